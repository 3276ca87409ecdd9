"""What a daemon started on defaults will not do, and why, said once at start.

Why: a plant engineer's first ``factory-ai run`` on the shipped connectors stores readings and
seems to do nothing else. Every model family that scores assets needs a model named in the
config, and camera folders judge nothing until images arrive; each is one line in the log,
naming the key to set or the folder to fill. Where the registry holds exactly one model of a
scoring family and none is configured, the daemon uses it and says so: the obvious choice,
made visibly, beats silence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def adopt_and_explain(settings: Any, registry: Any, connectors: list[Any]) -> list[str]:
    """Adopt the one registered model of each scoring family the config leaves unset (the
    settings are changed in place), and return a line for each thing the daemon will not do."""
    from factory_ai import families
    from factory_ai.errors import ModelError
    from factory_ai.registry import read_card

    lines: list[str] = []
    cards: dict[str, list[str]] = {}
    for name in registry.names():
        try:
            cards.setdefault(str(read_card(registry.resolve(name).path).get("family")), []).append(name)
        except ModelError:
            continue
    for family in families.with_role("score"):
        key = f"{family.key}_model"
        if family.models_in_use(settings) or not hasattr(settings.daemon, key):
            continue
        found = cards.get(family.id, [])
        if len(found) == 1:
            setattr(settings.daemon, key, found[0])
            lines.append(f"using {found[0]}, the only {family.title} model in the registry, to score assets "
                         f"(set [daemon] {key} to choose)")
        else:
            why = (f"{len(found)} {family.title} models are registered ({', '.join(found)}), and none is chosen"
                   if found else f"no {family.title} model is registered (factory-ai train {family.train_command})")
            lines.append(f"no {family.title}: {why}; set [daemon] {key}")
    for config in connectors:
        if config.kind == "image-folder" and config.enabled and not _has_images(Path(config.path), config.patterns):
            lines.append(f"nothing to judge yet: camera folder {config.path} holds no images ({config.name})")
    return lines


def _has_images(folder: Path, patterns: list[str]) -> bool:
    if not folder.is_dir():
        return False
    return any(next(folder.glob(pattern), None) is not None for pattern in patterns)

"""Every model family factory-ai knows, by its card's ``family`` id: the one table to extend.

The daemon, ``factory-ai models``, the console, the reports, the drift check and the retrain
jobs iterate this table or look a card up in it; none of them names a family. Adding a family
is a folder beside ``vision/`` (its ``family.py`` implementing :class:`factory_ai.family.Family`,
its ``train/`` package for the torch side) and one line here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory_ai.anomaly.family import DETECTOR
from factory_ai.errors import ModelError
from factory_ai.family import Family
from factory_ai.forecast.family import FORECAST
from factory_ai.health.family import HEALTH
from factory_ai.registry import Registry, read_card
from factory_ai.vision.family import CLASSIFIER

FAMILIES: dict[str, Family] = {f.id: f for f in (CLASSIFIER, FORECAST, DETECTOR, HEALTH)}


def of(card: dict[str, Any]) -> Family:
    """The family a card belongs to; :class:`ModelError` for a family this version does not know."""
    family = FAMILIES.get(str(card.get("family")))
    if family is None:
        raise ModelError(f"model {card.get('name')} {card.get('version')} is of family {card.get('family')!r}, "
                         f"which this factory-ai does not know (known: {', '.join(FAMILIES)})")
    return family


def load(model_dir: Path, **options: Any) -> Any:
    """The line-side model of any version folder, through its family."""
    return of(read_card(model_dir)).load(model_dir, **options)


def in_use(settings: Any, registry: Registry) -> list[tuple[Family, str]]:
    """(family, registry name) of every model the plant's config puts to work, each once, for
    the families whose cards they are; names that do not resolve are left to their users."""
    found: list[tuple[Family, str]] = []
    for family in FAMILIES.values():
        for name in family.models_in_use(settings):
            try:
                card = read_card(registry.resolve(name).path)
            except ModelError:
                continue
            if card.get("family") == family.id and (family, name) not in found:
                found.append((family, name))
    return found


def with_role(role: str) -> list[Family]:
    return [f for f in FAMILIES.values() if f.role == role]


def card_classes(registry: Registry) -> Any:
    """The review queue's ``ClassesOf`` (see ``factory_ai.review``): what a reviewer may call a
    part, read from the judging model's card through its family."""

    def classes_of(name: str | None, version: str | None) -> tuple[list[str], list[str], bool]:
        from factory_ai.errors import DataError

        if not name:
            raise DataError("the inspection names no model, so its classes are unknown")
        card = read_card(registry.resolve(f"{name}:{version}" if version else name).path)
        family = FAMILIES.get(str(card.get("family")))
        if family is None:
            return list(card.get("classes", [])), list(card.get("good_classes", [])), False
        return family.labels(card)

    return classes_of

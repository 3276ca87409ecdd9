"""The model registry: versioned folders of ONNX files and cards, with a current pointer.

Layout (a plain folder, so it can be copied, synced and inspected with ``ls``)::

    models/<name>/<version>/*.onnx        the artifacts (model.onnx, model.int8.onnx, ...)
    models/<name>/<version>/card.json     everything the line side needs to use it
    models/<name>/CURRENT                 the version in service, one line
    models/<name>/history.jsonl           every promote and rollback, appended

Why a pointer file: promotion and rollback are one atomic rename, and a line-side daemon can
notice a new model by reading one small file. Versions are never changed after they are
written; training builds a new one in a hidden folder and renames it into place when done.

Loading checks the card's sha256 of the artifact, so a half-copied or tampered file is refused.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from factory_ai.errors import GateError, ModelError

CARD = "card.json"
CURRENT = "CURRENT"
HISTORY = "history.jsonl"
BUNDLED = Path(__file__).with_name("bundled_models")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION = re.compile(r"^v(\d+)$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(model_dir: Path) -> dict[str, Any]:
    """The card of a version folder; :class:`ModelError` if it is missing or unreadable."""
    path = Path(model_dir) / CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{model_dir}: no {CARD}; not a factory-ai model folder") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model card ({exc})") from None
    if not isinstance(card, dict) or "artifacts" not in card:
        raise ModelError(f"{path}: model card has no 'artifacts' section")
    return card


def write_card(model_dir: Path, card: dict[str, Any]) -> None:
    _atomic_write(Path(model_dir) / CARD, json.dumps(card, indent=2, sort_keys=False) + "\n")


def verified_artifact(model_dir: Path, card: dict[str, Any], artifact: str) -> Path:
    """Path of ``artifact`` after checking it exists and matches the card's sha256."""
    info = card["artifacts"].get(artifact)
    if info is None:
        have = ", ".join(sorted(card["artifacts"])) or "none"
        raise ModelError(f"{model_dir}: the card lists no {artifact} (it has: {have})")
    path = Path(model_dir) / artifact
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    actual = sha256_file(path)
    if actual != info.get("sha256"):
        raise ModelError(
            f"{path}: sha256 {actual[:12]}… does not match the card ({str(info.get('sha256'))[:12]}…); "
            "the file is corrupt or was changed after export"
        )
    return path


def artifact_entry(path: Path, precision: str = "fp32") -> dict[str, Any]:
    """The card's record of one artifact file: its sha256 (checked at every load), size, precision."""
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size, "precision": precision}


def verify_all(model_dir: Path, card: dict[str, Any]) -> None:
    """Check every artifact the card lists: a version goes into service whole or not at all."""
    if not card["artifacts"]:
        raise ModelError(f"{model_dir}: the card lists no artifacts")
    for artifact in card["artifacts"]:
        verified_artifact(model_dir, card, artifact)


def card_digest(card: dict[str, Any]) -> str:
    """One sha256 naming a version's contents: the ONNX file's own for a one-file model, else a
    digest over every artifact's name and sha256 (forecast versions ship two members)."""
    artifacts = card["artifacts"]
    if "model.onnx" in artifacts:
        return artifacts["model.onnx"]["sha256"]
    joined = "\n".join(f"{name}:{info['sha256']}" for name, info in sorted(artifacts.items()))
    return hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    path: Path


class Registry:
    """Versions and current pointers under one folder, with read-only fallbacks.

    ``fallbacks`` (by default the demo model bundled in the wheel) are searched for names the
    main folder does not have, so ``factory-ai inspect`` works right after ``pip install``.
    """

    def __init__(self, root: Path, fallbacks: tuple[Path, ...] = (BUNDLED,)) -> None:
        self.root = Path(root)
        self.fallbacks = tuple(f for f in fallbacks if f.resolve() != self.root.resolve())

    # -- reading -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        found: set[str] = set()
        for base in (self.root, *self.fallbacks):
            if base.is_dir():
                found.update(p.name for p in base.iterdir() if p.is_dir() and _NAME.match(p.name))
        return sorted(found)

    def versions(self, name: str) -> list[str]:
        folder = self._folder(name)
        if folder is None:
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(found, key=_version_number)

    def current(self, name: str) -> str | None:
        folder = self._folder(name)
        if folder is None:
            return None
        pointer = folder / CURRENT
        if not pointer.is_file():
            return None
        version = pointer.read_text(encoding="utf-8").strip()
        return version or None

    def history(self, name: str) -> list[dict[str, Any]]:
        folder = self._folder(name)
        if folder is None or not (folder / HISTORY).is_file():
            return []
        lines = (folder / HISTORY).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def resolve(self, ref: str) -> ModelRef:
        """Find a model by ``NAME`` (its current version), ``NAME:VERSION``, or a folder path."""
        as_path = Path(ref)
        if (as_path / CARD).is_file():
            card = read_card(as_path)
            return ModelRef(card.get("name", as_path.parent.name), card.get("version", as_path.name), as_path)
        name, _, version = ref.partition(":")
        return self.get(name, version or None)

    def get(self, name: str, version: str | None = None) -> ModelRef:
        """A version by name and number (or the current one), never a folder path: what a name
        and version that came over HTTP are looked up with."""
        folder = self._folder(name) if _NAME.fullmatch(name) else None
        if folder is None:
            known = ", ".join(self.names()) or "none"
            raise ModelError(f"model {name!r} not found in {self.root} (registered: {known})")
        if not version:
            version = self.current(name) or ""
            if not version:
                raise ModelError(f"model {name!r} has no current version; run `factory-ai models promote {name} VERSION`")
        check_version(version)
        path = folder / version
        if not path.is_dir():
            have = ", ".join(self.versions(name)) or "none"
            raise ModelError(f"model {name!r} has no version {version!r} (versions: {have})")
        return ModelRef(name, version, path)

    # -- writing (main folder only) ------------------------------------------------------------
    def staging_dir(self, name: str) -> tuple[str, Path]:
        """Reserve the next version number; return it and a hidden folder to build it in."""
        _check_name(name)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        taken = [_version_number(v) for v in self.versions(name) if (folder / v).exists()]
        taken += [_version_number(p.name[1:].split(".")[0]) for p in folder.glob(".v*.partial")]
        number = max(taken, default=0) + 1
        while True:
            version = f"v{number}"
            staging = folder / f".{version}.partial"
            try:
                staging.mkdir()
            except FileExistsError:
                number += 1
                continue
            if (folder / version).exists():
                staging.rmdir()
                number += 1
                continue
            return version, staging

    def publish(self, name: str, build: Callable[[str, Path], dict[str, Any]], *,
                promote: bool, force: bool = False) -> tuple[ModelRef, dict[str, Any], bool]:
        """Build a new version with ``build(version, staging_folder) -> card``, move it into place,
        and put it in service when ``promote`` asks or it is the name's first version, provided
        its card's gate passed (or ``force``). A failure while building leaves no half version."""
        version, staging = self.staging_dir(name)
        try:
            card = build(version, staging)
            ref = self.commit(name, version, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        wanted = promote or self.current(name) is None
        if wanted and (gate_passed(card) or force):
            self.promote(name, version, reason="--promote at training" if promote else "first version", force=force)
            return ref, card, True
        if wanted:
            self.refuse(name, version, "the gate before service: " + str(card["gate"].get("sentence", "failed")))
        return ref, card, False

    def commit(self, name: str, version: str, staging: Path) -> ModelRef:
        """Move a finished staging folder into place as ``name/version``."""
        target = self.root / name / version
        os.replace(staging, target)
        return ModelRef(name, version, target)

    def promote(self, name: str, version: str, reason: str = "", *, force: bool = False) -> ModelRef:
        """Make ``version`` the one in service. A version whose card records a failed gate is
        refused (:class:`GateError`) unless ``force``, and a forced promotion says so in the history."""
        ref = self.resolve(f"{name}:{version}")
        self._require_writable(ref)
        card = read_card(ref.path)
        verify_all(ref.path, card)
        forced = not gate_passed(card)
        if forced and not force:
            raise GateError(f"{name} {version} failed its gate before service ({card['gate'].get('sentence', '')}); "
                            "promote it anyway with --force")
        if forced:
            reason = "; ".join(filter(None, [reason, "forced past a failed gate"]))
        previous = self.current(name)
        _atomic_write(self.root / name / CURRENT, version + "\n")
        self._log(name, "promote", version, previous, reason, forced=forced)
        return ref

    def rollback(self, name: str, reason: str = "") -> ModelRef:
        """Go back to the version that was current before the present one."""
        current = self.current(name)
        if current is None:
            raise ModelError(f"model {name!r} has no current version to roll back from")
        previous = next(
            (
                event["previous"]
                for event in reversed(self.history(name))
                if event.get("action") == "promote"
                and event.get("version") == current
                and event.get("previous") not in (None, current)
            ),
            None,
        )
        if previous is None:
            raise ModelError(f"model {name!r}: nothing to roll back to (no earlier promotion recorded)")
        ref = self.resolve(f"{name}:{previous}")
        self._require_writable(ref)
        verify_all(ref.path, read_card(ref.path))
        _atomic_write(self.root / name / CURRENT, previous + "\n")
        self._log(name, "rollback", previous, current, reason)
        return ref

    def refuse(self, name: str, version: str, reason: str) -> None:
        """Record that ``version`` was judged and not put in service (a challenger that lost)."""
        self._log(name, "refused", version, self.current(name), reason)

    # -- helpers -----------------------------------------------------------------------------
    def _folder(self, name: str) -> Path | None:
        for base in (self.root, *self.fallbacks):
            if (base / name).is_dir():
                return base / name
        return None

    def _require_writable(self, ref: ModelRef) -> None:
        if not ref.path.is_relative_to(self.root):
            raise ModelError(f"{ref.name} lives in {ref.path.parent} (read-only); copy it into {self.root} first")

    def _log(self, name: str, action: str, version: str, previous: str | None, reason: str,
             forced: bool = False) -> None:
        event = {
            "ts": datetime.now(UTC).isoformat(),
            "action": action,
            "version": version,
            "previous": previous,
            "by": current_user(),
            "reason": reason,
        }
        if forced:
            event["forced"] = True
        with open(self.root / name / HISTORY, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")


def gate_passed(card: dict[str, Any]) -> bool:
    """Whether a card lets its version into service: cards without a gate record (older versions,
    families without one) do; a recorded failure does not."""
    gate = card.get("gate")
    return not isinstance(gate, dict) or bool(gate.get("passed", True))


def _version_number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group(1)) if match else 0


def check_version(version: str) -> None:
    """Refuse anything but ``v<number>``: a version is a folder name, and one that came from a URL,
    a CURRENT file or a central registry ("..", "../other/v1") must not reach another folder."""
    if not _VERSION.fullmatch(version):
        raise ModelError(f"invalid model version {version!r}: versions are v1, v2, ...")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' (max 100)")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def current_user() -> str:
    """Who is at the keyboard, for histories and audit fields."""
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"

"""Line-side model distribution: pull promoted models from the plant's central registry.

Why: models are trained and promoted centrally (on the GPU servers, by the retrain jobs); the
line-side PCs must end up running exactly those files, and nothing else. A line daemon with
``[models] source`` set asks the source which version of each model it uses is current, and
copies a version it lacks: the card and every artifact it lists go into a hidden staging
folder, each artifact's sha256 is checked against the card, and only then is the folder moved
into the local registry and promoted there. The daemon's hot reload then loads it, checking
the sha256 again. A version that fails the check is never moved into place; the line keeps
serving the one it has.

The source is either a folder (the central registry on a shared mount) or the central
daemon's URL, whose ``/api/v1/registry`` endpoints serve the registry read-only.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from factory_ai.errors import ModelError
from factory_ai.registry import CARD, Registry, check_version, read_card, verify_all, write_card

log = logging.getLogger(__name__)
TIMEOUT = 30.0  # seconds per HTTP request; a slow plant network must not hang the reload loop


class Source(Protocol):
    where: str

    def current(self, name: str) -> str | None: ...

    def card(self, name: str, version: str) -> dict[str, Any]: ...

    def fetch(self, name: str, version: str, artifact: str, target: Path) -> None: ...


@dataclass(frozen=True)
class Pulled:
    name: str
    version: str
    copied: bool  # False: the version was here already (perhaps only promoted now)
    promoted: bool


def source_for(where: str) -> Source:
    """``http(s)://central:8080`` is a central daemon; anything else a registry folder."""
    return HttpSource(where) if where.startswith(("http://", "https://")) else FolderSource(Path(where))


def pull(source: Source, registry: Registry, name: str) -> Pulled:
    """Make the source's current version of ``name`` the current one here."""
    version = source.current(name)
    if version is None:
        raise ModelError(f"{source.where} has no current version of {name!r}")
    check_version(version)  # the source's word becomes a folder name here
    target = registry.root / name / version
    copied = False
    if not target.is_dir():
        staging = registry.root / name / f".{version}.pull"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            card = source.card(name, version)
            if "artifacts" not in card:
                raise ModelError(f"{source.where}: the card of {name} {version} lists no artifacts")
            for artifact in card["artifacts"]:
                source.fetch(name, version, artifact, staging / _plain(artifact))
            write_card(staging, card)
            verify_all(staging, read_card(staging))  # every file as the card says, or nothing moves
            registry.commit(name, version, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        copied = True
    promoted = registry.current(name) != version
    if promoted:
        # The central registry put this version in service (through its gate, or forced there by a
        # person, which its own history records); the line follows that decision.
        registry.promote(name, version, reason=f"pulled from {source.where}", force=True)
        log.info("model %s %s pulled from %s and put in service", name, version, source.where)
    return Pulled(name, version, copied, promoted)


def shown(where: str) -> str:
    """A source as logs and /health may show it: a URL without the user and password in it."""
    parts = urllib.parse.urlsplit(where)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return where
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _plain(artifact: str) -> str:
    """An artifact's file name, refused if it tries to leave the version folder."""
    if Path(artifact).name != artifact or artifact in (".", "..", CARD):
        raise ModelError(f"refusing artifact name {artifact!r}: not a plain file name")
    return artifact


class FolderSource:
    """The central registry on a shared folder (NFS, SMB, a synced directory)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.where = str(self.root)
        self._registry = Registry(self.root, fallbacks=())

    def current(self, name: str) -> str | None:
        return self._registry.current(name)

    def card(self, name: str, version: str) -> dict[str, Any]:
        return read_card(self.root / name / version)

    def fetch(self, name: str, version: str, artifact: str, target: Path) -> None:
        shutil.copyfile(self.root / name / version / _plain(artifact), target)


class HttpSource:
    """The central daemon's read-only registry endpoints."""

    def __init__(self, url: str) -> None:
        self.base = shown(url).rstrip("/")
        self.where = self.base
        given = urllib.parse.urlsplit(url)
        self._headers = {}
        if given.username is not None:  # a central behind a proxy that asks for a login
            login = f"{urllib.parse.unquote(given.username)}:{urllib.parse.unquote(given.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()

    def _get(self, *parts: str) -> urllib.request.Request:
        path = "/".join(urllib.parse.quote(p, safe="") for p in parts)
        return urllib.request.Request(f"{self.base}/api/v1/registry/{path}", headers=self._headers)

    def current(self, name: str) -> str | None:
        return self._json(name).get("current")

    def card(self, name: str, version: str) -> dict[str, Any]:
        return self._json(name, version, CARD)

    def fetch(self, name: str, version: str, artifact: str, target: Path) -> None:
        try:
            with urllib.request.urlopen(self._get(name, version, _plain(artifact)), timeout=TIMEOUT) as answer, \
                    open(target, "wb") as out:
                shutil.copyfileobj(answer, out, 1 << 20)
        except OSError as exc:  # URLError and HTTPError are OSErrors
            raise ModelError(f"{self.base}: cannot fetch {name} {version} {artifact} ({exc})") from None

    def _json(self, *parts: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(self._get(*parts), timeout=TIMEOUT) as answer:
                return json.loads(answer.read())
        except OSError as exc:
            raise ModelError(f"{self.base}: cannot read the registry ({exc})") from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"{self.base}: the registry answered something that is not JSON ({exc})") from None

"""How people and models name an asset: by its name, or by ``line/name`` where names repeat.

Two lines may each have a ``press-1``: the store knows an asset by (line, name). Everything
outside the store (histories, forecasts, report rows, console addresses, the API) names an
asset by one string, its *key*: the bare name while no other asset shares it, so a plant with
unique names sees no change, and ``line/name`` for the assets whose name repeats. A
``line/name`` key is accepted for any asset with a line, so a script can always be explicit.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, or_
from sqlmodel import Session, select

from factory_ai.errors import DataError
from factory_ai.store.tables import Asset


def repeated_names(session: Session) -> set[str]:
    """Names held by more than one asset (on different lines)."""
    return set(session.exec(select(Asset.name).group_by(Asset.name).having(func.count() > 1)).all())


def key(name: str, line: str | None, repeated: set[str]) -> str:
    """The asset's key: its name, qualified by its line where the name repeats."""
    return f"{line}/{name}" if line and name in repeated else name


def keys_by_id(session: Session, ids: Iterable[int] | None = None) -> dict[int, str]:
    """The key of each asset (of those ids, or all)."""
    repeated = repeated_names(session)
    query = select(Asset.id, Asset.name, Asset.line)
    if ids is not None:
        query = query.where(Asset.id.in_(list(ids)))
    return {int(i): key(name, line, repeated) for i, name, line in session.exec(query).all()}


def resolve(session: Session, keys: Iterable[str], *, create: bool = False, ambiguous: str = "raise"
            ) -> dict[str, int]:
    """The asset id of each key, keyed by the caller's own strings. A bare name held on two
    lines is refused with the keys that would pick one (``ambiguous="skip"`` leaves it out
    instead: a scoring pass keeps the other assets' results when a name has just started to
    repeat). An unknown key is left out, or created when ``create`` (a forecast or event about
    a machine the connectors have not named yet): on its line where it is ``line/name`` and
    that line is known, else as an asset without a line."""
    wanted = list(dict.fromkeys(k for k in keys if k))
    if not wanted:
        return {}
    qualified = func.coalesce(Asset.line, "") + "/" + Asset.name
    rows = session.exec(select(Asset.id, Asset.name, Asset.line)
                        .where(or_(Asset.name.in_(wanted), qualified.in_(wanted)))).all()
    by_name: dict[str, list[tuple[int, str | None]]] = {}
    for asset_id, name, line in sorted(rows):
        by_name.setdefault(name, []).append((int(asset_id), line))
    found: dict[str, int] = {}
    for name, held in by_name.items():
        for asset_id, line in held:
            if line:
                found.setdefault(f"{line}/{name}", asset_id)
        bare = [asset_id for asset_id, line in held if not line]
        if len(held) == 1 or bare:  # unique, or the one without a line keeps the bare name
            found[name] = held[0][0] if len(held) == 1 else bare[0]
    out: dict[str, int] = {}
    for k in wanted:
        if k in found:
            out[k] = found[k]
        elif k in by_name:  # a bare name on several lines and none without a line
            if ambiguous == "skip":
                continue
            choices = ", ".join(sorted(f"{line}/{k}" for _, line in by_name[k]))
            raise DataError(f"asset {k!r} is on more than one line: name one of {choices}")
        elif create:
            out[k] = _create(session, k)
    return out


def _create(session: Session, k: str) -> int:
    line, _, name = k.partition("/")
    known = bool(name) and session.exec(select(Asset.id).where(Asset.line == line).limit(1)).first() is not None
    asset = Asset(name=name, line=line) if known else Asset(name=k)
    session.add(asset)
    session.flush()
    return int(asset.id)

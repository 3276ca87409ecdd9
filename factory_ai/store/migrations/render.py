"""How autogenerate writes column types into migration scripts.

Migration scripts must keep working after the code moves on, so they name plain SQLAlchemy
types (``sa.DateTime(timezone=True)``, ``sa.String``) rather than factory-ai's own classes.
"""

from typing import Any

from sqlmodel.sql.sqltypes import AutoString

from factory_ai.store.types import UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False

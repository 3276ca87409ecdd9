"""Errors a plant engineer can act on.

Every error raised on purpose by factory-ai derives from :class:`FactoryAIError`; the CLI
prints its message as one line (no traceback) and exits with its ``exit_code``. Anything else
is a bug and keeps its traceback.
"""


class FactoryAIError(Exception):
    exit_code = 1


class ConfigError(FactoryAIError):
    """The plant config (file or environment) is invalid; the message names the file and key."""


class ModelError(FactoryAIError):
    """A model is missing, corrupt, or its card does not match its file."""


class DataError(FactoryAIError):
    """Training or evaluation data is unusable (empty folder, one class, unreadable files)."""


class ImageError(FactoryAIError):
    """One image cannot be judged; inspection reports it for that file and goes on."""


def first_line(exc: BaseException) -> str:
    """A database error in one line: the driver's own message where SQLAlchemy wraps one (it
    appends a background link and the SQL), else the exception's; its type if both are empty."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class StoreError(FactoryAIError):
    """The database cannot be reached or its schema is not what this version expects."""


class GateError(FactoryAIError):
    """A trained model was registered but kept out of service: on its own test split it does not
    clearly beat the trivial answer, or it rejects too many good parts or passes too many bad ones.
    Exit code 3, so scripts can tell "trained but not fit for service" from a failure."""

    exit_code = 3

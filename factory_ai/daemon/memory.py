"""Handing memory the daemon has freed back to the operating system.

Why: glibc's malloc keeps freed blocks inside the process for reuse. After a model swap (the
new ONNX session is loaded beside the old one, then the old one is freed) or a broker outage
(queues fill, then drain), that memory stayed: the hour-long soak saw RSS step up about 7 MB
at a promotion and a little at each broker restart, and never come back down, which reads as
a leak on a plant's monitoring. ``malloc_trim(0)`` returns free pages at once; the daemon
calls it after a swap and once a minute. Where the C library is not glibc (musl, macOS) it
does nothing.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

TRIM_SECONDS = 60.0  # how often the daemon trims: cheap (a few ms), and a minute bounds any plateau


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _glibc()


def trim() -> bool:
    """Return the heap's free pages to the system; True when some were returned."""
    if _LIBC is None:
        return False
    try:
        return bool(_LIBC.malloc_trim(0))
    except Exception as exc:  # noqa: BLE001 - never worth stopping the daemon for
        log.debug("malloc_trim failed: %s", exc)
        return False

"""Kept copies of judged images, named by their sha256, for review and retraining.

Why keep them: the camera folder's processed/ copy belongs to the plant (it may be swept by a
cron job) and an upload has no file at all, yet an operator reviewing a part next morning, and
the retrain job next Sunday, both need the exact bytes the model judged. Files are written
once (same bytes, same name), to a temporary name first, then renamed: never half-written.
"""

from __future__ import annotations

import os
from pathlib import Path

SUFFIXES = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"BM": ".bmp", b"II*\x00": ".tif", b"MM\x00*": ".tif"}


def suffix_of(data: bytes) -> str:
    """The file suffix an image's first bytes say it has (``.img`` when they say nothing known)."""
    return next((s for magic, s in SUFFIXES.items() if data.startswith(magic)), ".img")


class ImageArchive:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes, sha256: str) -> Path:
        """Store ``data`` (if not already there) and return its path."""
        path = self.root / sha256[:2] / f"{sha256}{suffix_of(data)}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path

"""The disk spool both writers fall back on while the database is away.

Why files of JSON lines, one per batch, numbered: each batch is written to a temporary file,
fsynced and renamed into place, so after a crash a spool file is either whole or absent; the
numbers keep the order in which batches arrived, which is the order they are replayed in.
The folder is listed once at start (a spool left by a crash is replayed then); after that the
list is kept in memory.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files: deque[Path] = deque(sorted(self.folder.glob("*.jsonl")))
        self._seq = max((int(p.stem) for p in self._files), default=0)

    def __bool__(self) -> bool:
        return bool(self._files)

    def lines_waiting(self) -> int:
        """Lines in the spool files (read from disk: call it at start, not in a loop)."""
        total = 0
        for path in self._files:
            with open(path, "rb") as handle:
                total += sum(1 for _ in handle)
        return total

    def write(self, lines: Iterable[str]) -> Path:
        """One batch, durable once this returns."""
        self._seq += 1
        path = self.folder / f"{self._seq:012d}.jsonl"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        self._files.append(path)
        return path

    def oldest(self) -> tuple[Path, list[str]] | None:
        """The oldest batch and its lines, or None when the spool is empty."""
        if not self._files:
            return None
        path = self._files[0]
        with open(path, encoding="utf-8") as handle:
            return path, [line for line in handle.read().splitlines() if line]

    def remove_oldest(self) -> None:
        """The oldest batch is in the database: delete its file."""
        self._files.popleft().unlink()


class Backoff:
    """Retry delays that double from ``start`` up to ``cap`` while a database stays away."""

    def __init__(self, start: float = 0.5, cap: float = 30.0) -> None:
        self.start, self.cap = start, cap
        self.delay, self.retry_at = start, 0.0

    def failed(self) -> None:
        self.retry_at = time.monotonic() + self.delay
        self.delay = min(self.delay * 2, self.cap)

    def succeeded(self) -> None:
        self.delay, self.retry_at = self.start, 0.0

    def due(self) -> bool:
        return time.monotonic() >= self.retry_at

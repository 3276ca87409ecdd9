"""``image-folder``: judge every image a camera writes into a folder, then move it aside.

Why this shape:

- **Complete files only.** A camera or an FTP server writes an image over many milliseconds;
  judging it half-written gives a wrong verdict, not an error. A PNG is complete when it ends
  with its IEND chunk, a JPEG when it ends with the EOI marker, a BMP when its size matches its
  header. Other formats (TIFF) count as complete once their size and mtime have not changed
  for ``settle_seconds``.
- **Wake on inotify, rescan as a safety net.** watchdog tells us the moment a file is closed or
  moved in, so the verdict is not delayed by a polling interval; a rescan every
  ``rescan_seconds`` catches what events miss (network shares, overflowed event queues).
- **Never delete.** Judged files move to ``processed/`` and unjudgeable ones to ``failed/``
  (both configurable), with a numeric suffix if the name is taken, so nothing is overwritten
  and a plant can always go back to the image behind a verdict.
- **File names as plain strings.** ``pathlib`` interns every name it parses, and Python's
  table of interned strings grows but never shrinks. A camera writes a new name for every part
  (18,000 an hour at 5 parts/s): through pathlib those names made the table double, about 2 MB
  held for good, within the first hour of the soak. ``os.path`` on strings interns nothing.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

from factory_ai.connectors.base import Connector
from factory_ai.connectors.config import ImageFolder

log = logging.getLogger(__name__)

# judge(data, source, line) -> the verdict ("error" when the image could not be judged)
Judge = Callable[[bytes, str, "str | None"], str]


def looks_complete(path: str | os.PathLike[str], size: int) -> bool | None:
    """True/False when the format tells whether the file is whole; None when it cannot."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".bmp") or size < 8:
        return None if suffix not in (".png", ".jpg", ".jpeg", ".bmp") else False
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            handle.seek(max(0, size - 12))
            tail = handle.read(12)
    except OSError:
        return False
    if head.startswith(b"\x89PNG"):
        return tail.endswith(b"IEND\xaeB`\x82")
    if head.startswith(b"\xff\xd8"):
        return tail.rstrip(b"\x00").endswith(b"\xff\xd9")
    if head.startswith(b"BM") and len(head) >= 6:
        return struct.unpack("<I", head[2:6])[0] <= size
    return None  # the suffix lies about the content: let the settle rule and the decoder decide


class ImageFolderConnector(Connector):
    kind = "image-folder"

    def __init__(self, config: ImageFolder, judge: Judge, *, rescan_seconds: float = 1.0) -> None:
        super().__init__(config.name)
        self.config = config
        self.judge = judge
        self.folder = Path(config.path)
        self.processed = Path(config.processed or self.folder / "processed")
        self.failed_dir = Path(config.failed or self.folder / "failed")
        self.rescan_seconds = rescan_seconds
        self._wake = threading.Event()
        self._seen: dict[str, tuple[int, int, float]] = {}  # name -> (size, mtime_ns, unchanged since)
        self._observer = None
        self.state.detail.update(folder=str(self.folder), processed=0, failed=0)

    def run(self) -> None:
        for folder in (self.folder, self.processed, self.failed_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._watch()
        self.state.up = True
        while not self.stopping.is_set():
            self._wake.clear()
            try:
                pending = self._scan()
            except OSError as exc:
                self.failed(f"cannot list {self.folder}: {exc.strerror}")
                pending = True
            else:
                if not self.state.up and self.folder.is_dir():
                    self.state.up, self.state.last_error = True, None
            # Files still being written are looked at again soon; otherwise sleep until woken.
            self._wake.wait(min(self.config.settle_seconds / 4, 0.05) if pending else self.rescan_seconds)

    def close(self) -> None:
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(2.0)

    def _watch(self) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # pragma: no cover - watchdog is a dependency; polling still works
            log.warning("%s: watchdog not installed; polling every %.1f s", self.name, self.rescan_seconds)
            return
        wake = self._wake

        class _Wake(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: ANN001
                if event.event_type in ("created", "modified", "moved", "closed"):
                    wake.set()

        try:
            observer = Observer()
            observer.schedule(_Wake(), str(self.folder), recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit: polling still works
            log.warning("%s: cannot watch %s (%s); rescanning every %.1f s", self.name, self.folder, exc,
                        self.rescan_seconds)
            return
        self._observer = observer

    def _scan(self) -> bool:
        """Judge every complete file; True while some file is still being written."""
        pending = False
        now = time.monotonic()
        present = set()
        with os.scandir(self.folder) as entries:
            names = sorted((e.name, e) for e in entries if e.is_file(follow_symlinks=False)
                           and not e.name.startswith(".") and self._wanted(e.name))
        for name, entry in names:
            if self.stopping.is_set():
                break
            present.add(name)
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            before = self._seen.get(name)
            since = before[2] if before is not None and before[:2] == key else now
            self._seen[name] = (*key, since)
            whole = looks_complete(entry.path, stat.st_size)
            settled = stat.st_size > 0 and now - since >= self.config.settle_seconds
            if whole is True or (whole is None and settled) or (whole is False and settled and now - since > 10):
                # (a file that claims a format but never completes is judged after 10 s: the
                # decoder then says what is wrong with it, and it moves to failed/)
                self._handle(entry.path)
                self._seen.pop(name, None)
            else:
                pending = True
        for gone in set(self._seen) - present:
            self._seen.pop(gone, None)
        return pending

    def _wanted(self, name: str) -> bool:
        lower = name.lower()
        return any(fnmatch(lower, pattern.lower()) for pattern in self.config.patterns)

    def _handle(self, path: str) -> None:
        name = os.path.basename(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            self.failed(f"cannot read {name}: {exc.strerror}")
            return
        self.data(1)
        try:
            verdict = self.judge(data, path, self.config.line)
        except Exception as exc:  # noqa: BLE001 - no model, store trouble: keep the file for later
            self.failed(f"cannot judge {name}: {exc}")
            self.stopping.wait(1.0)
            return
        if verdict == "error":
            self.malformed(f"{name} could not be judged; moved to {self.failed_dir}")
            self.state.detail["failed"] += 1
            _move(path, os.fspath(self.failed_dir))
        else:
            self.state.detail["processed"] += 1
            _move(path, os.fspath(self.processed))


def _move(path: str, folder: str) -> str:
    """Move without ever overwriting: ``name.png``, then ``name.1.png``, ``name.2.png``, ..."""
    os.makedirs(folder, exist_ok=True)
    name = os.path.basename(path)
    stem, suffix = os.path.splitext(name)
    target = os.path.join(folder, name)
    n = 0
    while True:
        try:
            # os.link fails if the target exists (no silent overwrite), then the source goes.
            os.link(path, target)
            os.unlink(path)
            return target
        except FileExistsError:
            n += 1
            target = os.path.join(folder, f"{stem}.{n}{suffix}")
        except OSError:
            # Another file system or no hard links: rename, after checking the name is free.
            if os.path.exists(target):
                n += 1
                target = os.path.join(folder, f"{stem}.{n}{suffix}")
                continue
            os.replace(path, target)
            return target

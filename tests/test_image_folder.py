"""The camera-folder watcher on a real directory: complete files only, moved aside, never deleted."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factory_ai.connectors.config import ImageFolder
from factory_ai.connectors.image_folder import ImageFolderConnector, looks_complete
from tests.servers import wait_until

pytestmark = pytest.mark.slow


def _png(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (48, 48), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


class _Judge:
    """Decodes with PIL like the real inspector does, and records what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, data: bytes, source: str, line: str | None) -> str:
        with self.lock:
            self.seen.append((Path(source).name, len(data)))
        try:
            Image.open(io.BytesIO(data)).load()
        except Exception:  # noqa: BLE001
            return "error"
        return "pass"




def _connector(folder: Path, judge: _Judge, **extra) -> ImageFolderConnector:
    config = ImageFolder.model_validate({"kind": "image-folder", "name": "cam1", "path": str(folder),
                                         "settle_seconds": 0.3, "line": "line1", **extra})
    return ImageFolderConnector(config, judge, rescan_seconds=0.5)


def test_completeness_from_the_format(tmp_path: Path) -> None:
    whole = _png()
    path = tmp_path / "a.png"
    path.write_bytes(whole[: len(whole) // 2])
    assert looks_complete(path, path.stat().st_size) is False
    path.write_bytes(whole)
    assert looks_complete(path, path.stat().st_size) is True
    jpeg = io.BytesIO()
    Image.new("RGB", (16, 16)).save(jpeg, format="JPEG")
    (tmp_path / "b.jpg").write_bytes(jpeg.getvalue()[:-2])
    assert looks_complete(tmp_path / "b.jpg", len(jpeg.getvalue()) - 2) is False
    (tmp_path / "c.tif").write_bytes(b"II*\x00" + b"\x00" * 100)
    assert looks_complete(tmp_path / "c.tif", 104) is None  # decided by the settle time


def test_waits_for_complete_files_and_moves_them_aside(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()
    judge = _Judge()
    connector = _connector(folder, judge)
    (folder / "processed").mkdir()
    (folder / "processed" / "part-2.png").write_bytes(b"an earlier part-2, kept")
    connector.start()
    try:
        assert wait_until(lambda: connector.state.up)
        # A camera writing slowly: half the file, a pause well past settle_seconds, the rest.
        whole = _png(1)
        with open(folder / "part-1.png", "wb") as handle:
            handle.write(whole[:200])
            handle.flush()
            time.sleep(1.0)
            assert judge.seen == []  # incomplete PNG: not judged, although it sat still for 1 s
            handle.write(whole[200:])
        assert wait_until(lambda: (folder / "processed" / "part-1.png").exists())
        assert judge.seen == [("part-1.png", len(whole))]

        (folder / "part-2.png").write_bytes(_png(2))  # same name as one already processed
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage IEND\xaeB`\x82")  # looks whole, is not
        (folder / "notes.txt").write_text("not an image pattern: left alone")
        assert wait_until(lambda: connector.state.detail["processed"] == 2 and connector.state.detail["failed"] == 1)
        assert (folder / "processed" / "part-2.png").read_bytes() == b"an earlier part-2, kept"
        assert (folder / "processed" / "part-2.1.png").read_bytes() == _png(2)
        assert (folder / "failed" / "broken.png").exists()
        assert (folder / "notes.txt").exists()
        assert connector.state.malformed == 1 and connector.state.received == 3
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["notes.txt"]
    finally:
        connector.stop()


def test_unknown_formats_wait_for_the_settle_time(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()
    judge = _Judge()
    tiff = io.BytesIO()
    Image.new("L", (16, 16)).save(tiff, format="TIFF")
    connector = _connector(folder, judge, settle_seconds=0.8)
    connector.start()
    try:
        assert wait_until(lambda: connector.state.up)
        start = time.monotonic()
        (folder / "frame.tif").write_bytes(tiff.getvalue())
        assert wait_until(lambda: (folder / "processed" / "frame.tif").exists())
        assert time.monotonic() - start >= 0.8
    finally:
        connector.stop()


def test_a_judge_that_cannot_work_keeps_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()

    def no_model(data: bytes, source: str, line: str | None) -> str:
        raise RuntimeError("model 'demo-surface' is not available")

    connector = _connector(folder, no_model)
    (folder / "part.png").write_bytes(_png())
    connector.start()
    try:
        assert wait_until(lambda: connector.state.errors >= 1)
        assert (folder / "part.png").exists()  # kept for when the model is back
        assert "not available" in connector.state.last_error
    finally:
        connector.stop()

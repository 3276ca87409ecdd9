"""Files that must not be judged, each written by code (nothing binary is committed)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def good_png(size: int = 40) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(size * size) % 251).astype(np.uint8).reshape(size, size), "L").save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes of valid PNG that would decode to width x height grey pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)  # the first rows; enough to look real
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def write_bad_images(folder: Path) -> dict[str, str]:
    """Write one file per kind of bad input; return {file name: expected error fragment}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}

    (folder / "empty.png").write_bytes(b"")
    expected["empty.png"] = "empty file"

    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    expected["truncated.jpg"] = "truncated or corrupt"

    (folder / "notes.png").write_bytes(b"shift report: line 3 stopped at 14:05\n" * 20)
    expected["notes.png"] = "not an image"

    # A tiny PNG whose header claims 30000 x 30000 pixels: a decompression bomb.
    (folder / "bomb.png").write_bytes(bomb_png(30000, 30000))
    expected["bomb.png"] = "too large"

    Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16)).save(folder / "deep.png")
    expected["deep.png"] = "16-bit"

    Image.new("CMYK", (32, 32), (10, 20, 30, 40)).save(folder / "print.jpg", "JPEG")
    expected["print.jpg"] = "CMYK"

    la = Image.new("LA", (32, 32), (128, 0))  # two channels, fully transparent
    la.save(folder / "alpha.png")
    expected["alpha.png"] = "unexpected channel count"
    return expected

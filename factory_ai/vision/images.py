"""Decoding product images safely and turning them into model input.

Why so strict: a camera folder on a production line receives half-written files, test
patterns, the odd screenshot and, now and then, something hostile. Each image is checked before
its pixels are decoded (size, bit depth, colour model, channel count), so that one bad file
costs one clear per-file error and never the whole batch, a gigabyte of memory, or a wrong
verdict from pixels the model never saw in training (a 16-bit or CMYK image is refused rather
than guessed at).

Training and inspection both call :func:`to_pixels`, so the geometry (see ``geometry``) is the
same on both sides; normalisation happens inside the ONNX graph, so the line side only supplies
uint8 pixels.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from factory_ai.errors import ImageError
from factory_ai.vision.geometry import STRETCH, place

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"})
DEFAULT_MAX_PIXELS = 40_000_000

_DIRECT = {"L", "RGB"}
_CONVERTIBLE = {"1": "L", "P": "RGB", "YCbCr": "RGB"}
_WITH_ALPHA = {"LA": "L", "RGBA": "RGB", "PA": "RGB"}
_HIGH_DEPTH = {"I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I"}


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: channels (1 grey, 3 colour), canvas size and how an image is fitted
    to it (``letterbox`` keeps the aspect ratio; ``stretch``, the older cards' way, does not)."""

    channels: int
    height: int
    width: int
    fit: str = STRETCH

    @property
    def mode(self) -> str:
        return "L" if self.channels == 1 else "RGB"


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes into an 8-bit ``L`` or ``RGB`` image, or raise :class:`ImageError`."""
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            _check_header(image, max_pixels)
            image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image (format not recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image too large, refused as a possible decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"truncated or corrupt image ({str(exc) or type(exc).__name__})") from None
    return _to_8bit_mode(ImageOps.exif_transpose(image))


def _check_header(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} = {width * height:,} pixels, limit {max_pixels:,} "
            "(possible decompression bomb; raise inspect.max_pixels if genuine)"
        )
    mode = image.mode
    if mode in _HIGH_DEPTH:
        raise ImageError(f"{'16' if mode.startswith('I;16') else '32'}-bit image (mode {mode}); models take 8-bit images")
    if mode == "F":
        raise ImageError("floating-point image (mode F); models take 8-bit images")
    if mode == "CMYK":
        raise ImageError("CMYK image; models take greyscale or RGB images")
    if mode not in _DIRECT and mode not in _CONVERTIBLE and mode not in _WITH_ALPHA:
        bands = len(image.getbands())
        raise ImageError(f"unexpected channel count {bands} (mode {mode}); models take 1 or 3 channels")


def _to_8bit_mode(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in _DIRECT:
        return image
    if mode in _CONVERTIBLE:
        if mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
            mode = "RGBA"
        else:
            return image.convert(_CONVERTIBLE[mode])
    if mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    alpha = np.asarray(image.getchannel("A"))
    if alpha.min() < 255:
        raise ImageError(
            f"unexpected channel count {len(image.getbands())} (mode {mode} with transparency); "
            "models take 1 or 3 channels"
        )
    return image.convert(_WITH_ALPHA[mode])


def to_pixels(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """Fit an ``L``/``RGB`` image to the model's canvas and lay it out as uint8 ``[C, H, W]``."""
    if image.mode != spec.mode:
        image = image.convert(spec.mode)
    array = place(image, (spec.height, spec.width), spec.fit)
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def read_pixels(path: Path, spec: InputSpec, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read one file straight to model input (training uses this; inspection keeps the bytes)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read file ({exc.strerror})") from None
    return to_pixels(open_image(data, max_pixels), spec)


def is_grey(image: Image.Image) -> bool:
    """True for a greyscale image, including RGB files whose three channels are equal."""
    if image.mode == "L":
        return True
    array = np.asarray(image)
    return bool(np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2]))

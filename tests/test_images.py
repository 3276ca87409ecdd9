import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factory_ai.errors import ImageError
from factory_ai.vision.images import InputSpec, open_image, to_pixels
from tests.badimages import good_png, write_bad_images


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bad")
    return folder, write_bad_images(folder)


@pytest.mark.parametrize(
    "name", ["empty.png", "truncated.jpg", "notes.png", "bomb.png", "deep.png", "print.jpg", "alpha.png"]
)
def test_bad_input_is_a_clear_error(bad: tuple[Path, dict[str, str]], name: str) -> None:
    folder, expected = bad
    with pytest.raises(ImageError, match=expected[name]):
        open_image((folder / name).read_bytes())


def test_bomb_is_refused_before_decoding(bad: tuple[Path, dict[str, str]]) -> None:
    import tracemalloc

    folder, _ = bad
    tracemalloc.start()
    with pytest.raises(ImageError):
        open_image((folder / "bomb.png").read_bytes())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50_000_000  # 900 MP would need 900 MB decoded


def test_limit_is_configurable() -> None:
    data = good_png(40)
    assert open_image(data, max_pixels=1600).size == (40, 40)
    with pytest.raises(ImageError, match="too large"):
        open_image(data, max_pixels=1599)


def _encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def test_accepted_modes_become_grey_or_rgb() -> None:
    rgb = Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    assert open_image(_encode(rgb)).mode == "RGB"
    assert open_image(_encode(rgb.convert("P"))).mode == "RGB"
    assert open_image(_encode(rgb.convert("1"))).mode == "L"
    opaque = rgb.convert("RGBA")
    assert open_image(_encode(opaque)).mode == "RGB"  # an alpha channel that hides nothing is dropped
    see_through = opaque.copy()
    see_through.putalpha(100)
    with pytest.raises(ImageError, match="channel count 4"):
        open_image(_encode(see_through))


def test_pixels_layout_and_resize() -> None:
    image = open_image(_encode(Image.fromarray(np.full((20, 30, 3), (200, 100, 50), dtype=np.uint8))))
    grey = to_pixels(image, InputSpec(1, 16, 24))
    colour = to_pixels(image, InputSpec(3, 16, 24))
    assert grey.shape == (1, 16, 24) and grey.dtype == np.uint8
    assert colour.shape == (3, 16, 24)
    assert tuple(colour[:, 5, 5]) == (200, 100, 50)
    assert abs(int(grey[0, 5, 5]) - round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)) <= 1

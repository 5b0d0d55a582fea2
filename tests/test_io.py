"""The one image reader: decoding, modes, and the errors a missing or corrupt file gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.io import on_white, read_gray, read_image, read_pixels
from digit_detector.preprocess import ImageInputError


def test_missing_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "missing.png"
    with pytest.raises(ImageInputError) as raised:
        read_image(path)
    assert str(raised.value) == f"no such file: {path}"


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n not really"],
    ids=["empty", "text", "png-header-only"],
)
def test_corrupt_bytes_give_one_clear_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "corrupt.png"
    path.write_bytes(data)
    with pytest.raises(ImageInputError, match=r"^cannot read .*corrupt\.png as an image \(.+\)$"):
        read_image(path)
    with pytest.raises(ImageInputError):
        read_gray(path)
    with pytest.raises(ImageInputError):
        read_pixels(path)


def test_truncated_file_fails_when_read_not_later(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageInputError, match="cannot read"):
        read_image(path)


def test_read_image_is_decoded_and_detached_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.new("L", (30, 20), 77).save(path)
    image = read_image(path)
    path.unlink()  # the returned image no longer needs the file
    assert image.mode == "L" and image.size == (30, 20)
    assert np.asarray(image).max() == 77


def _rgba_canvas() -> Image.Image:
    """A transparent canvas with an opaque black stroke and a half-transparent red one."""
    pixels = np.zeros((10, 12, 4), dtype=np.uint8)
    pixels[2:8, 2] = (0, 0, 0, 255)
    pixels[2:8, 8] = (255, 0, 0, 128)
    return Image.fromarray(pixels, "RGBA")


def test_rgba_is_composited_on_white_for_gray(tmp_path: Path) -> None:
    path = tmp_path / "canvas.png"
    _rgba_canvas().save(path)
    gray = read_gray(path)
    assert gray.dtype == np.uint8 and gray.shape == (10, 12)
    assert gray[0, 0] == 255  # transparent paper is white
    assert gray[4, 2] == 0  # opaque black ink
    assert 100 < gray[4, 8] < 255  # half-transparent red is a light gray
    assert read_image(path).mode == "RGBA"  # read_image keeps the file's mode


def test_read_pixels_keeps_alpha(tmp_path: Path) -> None:
    path = tmp_path / "canvas.png"
    _rgba_canvas().save(path)
    pixels = read_pixels(path)
    assert pixels.shape == (10, 12, 4)
    assert np.array_equal(pixels, np.asarray(_rgba_canvas()))


def test_palette_image(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    image = Image.new("P", (8, 6), 0)
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * (256 * 3 - 6))
    image.putpixel((3, 2), 1)
    image.save(path)
    assert read_image(path).mode == "P"
    gray = read_gray(path)
    assert gray[2, 3] == 0 and gray[0, 0] == 255
    pixels = read_pixels(path)
    assert pixels.shape == (6, 8, 3) and tuple(pixels[2, 3]) == (0, 0, 0)


def test_palette_transparency_is_paper(tmp_path: Path) -> None:
    path = tmp_path / "palette_alpha.png"
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0] * 256)  # every colour black ...
    image.putpixel((1, 1), 1)
    image.save(path, transparency=0)  # ... but index 0 is transparent
    gray = read_gray(path)
    assert gray[0, 0] == 255 and gray[1, 1] == 0
    assert read_pixels(path).shape == (4, 4, 4)


def test_gray_of_rgb_and_l_match_a_plain_conversion(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "l.png")
    assert np.array_equal(read_gray(tmp_path / "rgb.png"), np.asarray(Image.fromarray(rgb).convert("L")))
    assert np.array_equal(read_gray(tmp_path / "l.png"), rgb[:, :, 0])
    assert np.array_equal(read_pixels(tmp_path / "rgb.png"), rgb)


def test_on_white_is_opaque() -> None:
    composited = on_white(_rgba_canvas())
    assert composited.mode == "RGBA"
    assert (np.asarray(composited)[:, :, 3] == 255).all()

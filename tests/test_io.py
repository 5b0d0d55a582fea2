"""The one image reader: decoding, modes, and the errors a missing or corrupt file gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.io import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    check_size,
    on_white,
    read_gray,
    read_image,
    read_pixels,
)
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


# A subprocess reads PNG headers claiming huge sizes (a few bytes of IDAT) and reports the growth of its
# peak RSS over what importing took, and the time. The peak is VmHWM, the high-water mark of the program's
# own memory (ru_maxrss starts from the parent's RSS at the fork: pytest's would hide any growth).
BOMB_SCRIPT = """
import json, struct, sys, time, zlib
from pathlib import Path
from digit_detector.io import read_image
from digit_detector.preprocess import ImageInputError

def peak_mib():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

def png(width, height, depth, colour):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(bytes(64))
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

folder = sys.argv[1]
before = peak_mib()
messages = []
start = time.perf_counter()
for width, height, depth, colour in [(20000, 20000, 1, 0), (13300, 13300, 8, 6), (8001, 5000, 16, 0)]:
    path = f"{folder}/{width}x{height}.png"
    with open(path, "wb") as handle:
        handle.write(png(width, height, depth, colour))
    try:
        read_image(path)
        messages.append(None)
    except ImageInputError as error:
        messages.append(str(error))
seconds = time.perf_counter() - start
grown = peak_mib() - before
print(json.dumps({"messages": messages, "seconds": seconds, "grown_mb": grown}))
"""


@pytest.mark.integration  # a subprocess: its peak RSS is its own
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from /proc (Linux)")
def test_huge_headers_are_refused_before_decoding_quickly_and_in_bounded_memory(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    over = f"more than the {MAX_IMAGE_PIXELS:,} pixels (40 megapixels) an image may have: scale it down first"
    assert report["messages"] == [
        f"{tmp_path}/20000x20000.png has {over}",  # past Pillow's own bomb limit: its error, our sentence
        f"{tmp_path}/13300x13300.png is 13300x13300 pixels, {over}",  # RGBA: 700 MB if decoded
        f"{tmp_path}/8001x5000.png is 8001x5000 pixels, {over}",  # one column over the limit
    ]
    assert report["seconds"] < 2
    assert report["grown_mb"] < 20, report  # decoding any of them takes 40-700 MB
    assert "DecompressionBombWarning" not in completed.stderr


def test_the_limit_is_40_megapixels() -> None:
    assert MAX_IMAGE_PIXELS == 40_000_000
    check_size("a.png", (8000, 5000))
    check_size("a.png", (400, 400))
    with pytest.raises(ImageInputError, match=r"^a\.png is 8000x5001 pixels, more than the 40,000,000"):
        check_size("a.png", (8000, 5001))


def _sixteen_bit_drawing() -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit drawing with mid-grey ink, and its 16-bit twin (each value x 257)."""
    eight = np.full((20, 30), 255, dtype=np.uint8)
    eight[5:15, 10:14] = 128
    eight[8, 20] = 0
    return eight, eight.astype(np.uint16) * 257


@pytest.mark.parametrize(
    ("suffix", "make"),
    [
        (".png", lambda a: Image.fromarray(a)),  # I;16
        (".tif", lambda a: Image.fromarray(a)),  # I;16
        (".tif", lambda a: Image.fromarray(a.byteswap().view(">u2"))),  # I;16B
        (".tif", lambda a: Image.fromarray(a.astype(np.int32))),  # I (32-bit)
        (".tif", lambda a: Image.fromarray(a.astype(np.float32) / 65535)),  # F, 0..1
    ],
    ids=["png-I;16", "tif-I;16", "tif-I;16B", "tif-I", "tif-F"],
)
def test_high_bit_depth_gray_is_scaled_not_clipped(tmp_path: Path, suffix: str, make: object) -> None:
    eight, sixteen = _sixteen_bit_drawing()
    path = tmp_path / f"deep{suffix}"
    make(sixteen).save(path)  # type: ignore[operator]
    image = read_image(path)
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), eight)  # mid-grey ink stays mid-grey, not white
    np.testing.assert_array_equal(read_gray(path), eight)
    np.testing.assert_array_equal(read_pixels(path), eight)


@pytest.mark.parametrize("suffix", IMAGE_SUFFIXES)
def test_every_listed_suffix_is_read(tmp_path: Path, suffix: str) -> None:
    """IMAGE_SUFFIXES (what a folder given to predict expands to) lists only formats the reader reads."""
    path = tmp_path / f"picture{suffix}"
    Image.new("RGB", (16, 12), (200, 100, 50)).save(path)
    assert read_image(path).size == (16, 12)
    assert read_gray(path).shape == (12, 16)

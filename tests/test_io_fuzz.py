"""Fuzzing the one image reader: whatever bytes a file holds, ``io.read_image`` returns an image within the
pixel limit or raises ``ImageInputError`` (and what it returns, ``to_rgb`` turns into RGB or refuses the same
way): no other exception escapes, nothing decodes past the limit.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digit_detector.io import MAX_IMAGE_PIXELS, read_image
from digit_detector.preprocess import ImageInputError, to_rgb

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def read_or_refuse(path: Path, data: bytes) -> None:
    """The property: an image within the limit that becomes RGB, or ImageInputError; nothing else."""
    path.write_bytes(data)
    try:
        image = read_image(path)
    except ImageInputError:
        return
    width, height = image.size
    assert width * height <= MAX_IMAGE_PIXELS
    try:
        rgb = to_rgb(image)
    except ImageInputError:
        return
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


sizes = st.integers(min_value=0, max_value=2**31 - 1) | st.integers(min_value=0, max_value=64)


@st.composite
def png_files(draw: st.DrawFn) -> bytes:
    """A PNG signature and IHDR with any size, bit depth, colour type and flags, then random chunks."""
    header = struct.pack(
        ">IIBBBBB",
        draw(sizes),
        draw(sizes),
        draw(st.sampled_from([1, 2, 4, 8, 16, 3, 0])),
        draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7])),
        draw(st.integers(0, 1)),
        draw(st.integers(0, 1)),
        draw(st.integers(0, 1)),
    )
    body = b"".join(
        png_chunk(kind, draw(st.binary(max_size=64)))
        for kind in draw(st.lists(st.sampled_from([b"PLTE", b"tRNS", b"IDAT", b"zTXt", b"acTL"]), max_size=3))
    )
    idat = png_chunk(b"IDAT", zlib.compress(draw(st.binary(max_size=256))))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + body + idat + png_chunk(b"IEND", b"")


@st.composite
def other_headers(draw: st.DrawFn) -> bytes:
    """GIF, BMP, TIFF and JPEG headers with any size, then random bytes."""
    width, height = draw(st.integers(0, 65535)), draw(st.integers(0, 65535))
    tail = draw(st.binary(max_size=128))
    kind = draw(st.sampled_from(["gif", "bmp", "tiff", "jpeg"]))
    if kind == "gif":
        return b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + bytes(768) + tail
    if kind == "bmp":
        info = struct.pack(
            "<IiiHHIIiiII", 40, width, height, 1, draw(st.sampled_from([1, 8, 24, 32])), 0, 0, 0, 0, 0, 0
        )
        return b"BM" + struct.pack("<IHHI", 54 + len(tail), 0, 0, 54) + info + tail
    if kind == "tiff":
        entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (262, 3, 1, 1), (273, 4, 1, 8)]
        ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
        return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + tail
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + tail


def encoded(kind: str) -> bytes:
    """A small real image in ``kind``'s format, for mutation."""
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format=kind)
    return buffer.getvalue()


SEEDS = {kind: encoded(kind) for kind in ("PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP")}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real small image with a few bytes changed, or cut short."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(scratch: Path, data: bytes) -> None:
    read_or_refuse(scratch / "random.png", data)


@FUZZ
@given(data=png_files())
def test_random_png_headers(scratch: Path, data: bytes) -> None:
    read_or_refuse(scratch / "header.png", data)


@FUZZ
@given(data=other_headers())
def test_random_gif_bmp_tiff_jpeg_headers(scratch: Path, data: bytes) -> None:
    read_or_refuse(scratch / "header.img", data)


@FUZZ
@given(data=mutated())
def test_mutated_real_images(scratch: Path, data: bytes) -> None:
    read_or_refuse(scratch / "mutated.img", data)

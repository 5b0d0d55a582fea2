from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from PIL import Image

from digit_detector.preprocess import (
    INPUT_SIZE,
    ImageInputError,
    grey_plane,
    letterbox,
    on_each_channel,
    preprocess,
    to_rgb,
    to_uint8,
)


def test_rgba_canvas_is_composited_onto_white() -> None:
    canvas = np.zeros((400, 400, 4), dtype=np.uint8)  # fully transparent = untouched paper
    canvas[100:120, 100:300] = (0, 0, 0, 255)  # one opaque black stroke
    rgb = to_rgb(canvas)
    assert rgb.shape == (400, 400, 3)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[110, 200].tolist() == [0, 0, 0]


def test_half_transparent_ink_is_grey() -> None:
    canvas = np.zeros((4, 4, 4), dtype=np.uint8)
    canvas[..., 3] = 128
    assert 125 <= to_rgb(canvas)[0, 0, 0] <= 129


@pytest.mark.parametrize(
    "image",
    [
        np.full((50, 70), 255, dtype=np.uint8),
        np.full((50, 70, 1), 255, dtype=np.uint8),
        np.ones((50, 70, 3), dtype=np.float32),
        Image.new("L", (70, 50), 255),
        Image.new("RGBA", (70, 50), (0, 0, 0, 0)),
        Image.new("P", (70, 50), 0),
    ],
)
def test_any_image_kind_becomes_rgb(image: object) -> None:
    rgb = to_rgb(image)  # type: ignore[arg-type]
    assert rgb.shape == (50, 70, 3) and rgb.dtype == np.uint8


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 10, 3), dtype=np.uint8), "empty"),
        (np.zeros((10, 10, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, 10, 10, 3), dtype=np.uint8), "shape"),
        (np.full((5, 5), np.nan), "NaN"),
        ("not an image", "numpy array or PIL"),
    ],
)
def test_bad_images_raise_a_clear_error(image: object, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        to_rgb(image)  # type: ignore[arg-type]


def test_preprocess_scales_pixels_to_unit_range() -> None:
    image = np.full((400, 400, 3), 255, dtype=np.uint8)
    image[:200] = 0
    batch, transform = preprocess(image)
    assert batch.shape == (1, 3, INPUT_SIZE, INPUT_SIZE) and batch.dtype == torch.float32
    assert batch.min() == 0.0 and batch.max() == 1.0
    assert transform.scale == pytest.approx(INPUT_SIZE / 400) and transform.pad_x == transform.pad_y == 0


def test_letterbox_keeps_aspect_and_maps_boxes_back() -> None:
    image = np.full((100, 300, 3), 255, dtype=np.uint8)
    square, transform = letterbox(image)
    assert square.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert transform.pad_x == 0 and transform.pad_y > 0
    box = np.array([[30.0, 10.0, 120.0, 90.0]])
    in_model = transform.to_input(box)
    back = transform.to_original(torch.tensor(in_model, dtype=torch.float32))
    np.testing.assert_allclose(back.numpy(), box, atol=1e-3)


def _mid_grey_drawing() -> NDArray[np.uint8]:
    eight = np.full((20, 30), 255, dtype=np.uint8)
    eight[5:15, 10:14] = 128
    eight[8, 20] = 0
    return eight


@pytest.mark.parametrize(
    "make",
    [
        lambda e: e.astype(np.uint16) * 257,  # uint16 array
        lambda e: e.astype(np.int32) * 257,  # int32 array (a PIL "I" image's)
        lambda e: Image.fromarray(e.astype(np.uint16) * 257),  # PIL I;16
        lambda e: Image.fromarray((e.astype(np.uint16) * 257).byteswap().view(">u2")),  # PIL I;16B
        lambda e: Image.fromarray(e.astype(np.int32) * 257),  # PIL I
        lambda e: Image.fromarray(e.astype(np.float32) / 255),  # PIL F, 0..1
        lambda e: e.astype(np.float64) / 255,  # float array, 0..1
        lambda e: e.astype(np.int64),  # int64 array of 8-bit values (np.array of ints)
    ],
    ids=["uint16", "int32", "I;16", "I;16B", "I", "F", "float", "int64-8bit"],
)
def test_deep_and_float_pixels_are_scaled_to_8_bit_not_clipped(make: object) -> None:
    eight = _mid_grey_drawing()
    rgb = to_rgb(make(eight))  # type: ignore[operator]
    np.testing.assert_array_equal(rgb, np.repeat(eight[:, :, None], 3, axis=2))


def test_to_uint8_keeps_the_high_byte_of_16_bit_values_and_honours_a_forced_reading() -> None:
    values = np.array([0, 128, 256, 32767, 32896, 65279, 65535, 70000, -5])
    assert to_uint8(values.astype(np.uint16)[:7]).tolist() == [0, 0, 1, 127, 128, 254, 255]
    assert to_uint8(values).tolist() == [0, 0, 1, 127, 128, 254, 255, 255, 0]  # above 255: 16-bit, clipped
    assert to_uint8(np.array([0, 100, 255, 300]), sixteen_bit=False).tolist() == [0, 100, 255, 255]
    assert to_uint8(np.array([0, 255, 256]), sixteen_bit=True).tolist() == [0, 0, 1]
    assert to_uint8(np.array([True, False])).tolist() == [255, 0]


def test_a_mode_pillow_cannot_convert_is_an_image_input_error() -> None:
    lab = Image.new("LAB", (4, 4))
    try:
        lab.convert("RGB")
    except ValueError:
        with pytest.raises(ImageInputError, match="cannot convert a LAB image to RGB"):
            to_rgb(lab)
    else:
        assert to_rgb(lab).shape == (4, 4, 3)


def _drawing(size: tuple[int, int], colour: tuple[int, int, int]) -> NDArray[np.uint8]:
    rng = np.random.default_rng(sum(size))
    image = np.full((*size, 3), 255, np.uint8)
    for _ in range(6):
        start, end = rng.integers(0, min(size), 2), rng.integers(0, min(size), 2)
        cv2.line(
            image, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), colour, int(rng.integers(1, 9))
        )
    return image


@pytest.mark.parametrize("size", [(400, 400), (37, 500), (700, 90), (50, 60)])
def test_a_grey_drawing_is_resized_and_turned_from_one_plane_to_the_same_pixels(
    size: tuple[int, int],
) -> None:
    grey = _drawing(size, (30, 30, 30))
    assert grey_plane(grey) is not None
    height, width = size
    scale = INPUT_SIZE / max(size)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    turn = cv2.getRotationMatrix2D((width / 3, height / 2), 10.0, 1.0)
    operations: list[Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = [
        lambda image: np.asarray(cv2.resize(image, target, interpolation=cv2.INTER_AREA), np.uint8),
        lambda image: np.asarray(cv2.resize(image, target, interpolation=cv2.INTER_LINEAR), np.uint8),
        lambda image: np.asarray(
            cv2.warpAffine(image, turn, (width, height), borderValue=(255, 255, 255)), np.uint8
        ),
    ]
    for operation in operations:
        assert np.array_equal(on_each_channel(grey, operation), operation(grey))
    square, _ = letterbox(grey)
    assert square.shape == (INPUT_SIZE, INPUT_SIZE, 3) and grey_plane(square) is not None


def test_a_coloured_drawing_keeps_its_channels_apart() -> None:
    coloured = _drawing((300, 300), (200, 40, 90))
    assert grey_plane(coloured) is None
    turned = on_each_channel(coloured, lambda plane: np.asarray(cv2.flip(plane, 1), np.uint8))
    assert np.array_equal(turned, coloured[:, ::-1])
    grey = _drawing((300, 300), (0, 0, 0))
    plane = grey_plane(grey)
    assert plane is not None and np.array_equal(plane, grey[:, :, 0])
    assert np.array_equal(
        on_each_channel(grey, lambda p: np.asarray(cv2.flip(p, 1), np.uint8)), grey[:, ::-1]
    )


def test_a_plane_or_a_four_channel_image_is_operated_on_as_it_is() -> None:
    plane = _drawing((80, 80), (0, 0, 0))[:, :, 0].copy()
    rgba = np.dstack([_drawing((80, 80), (0, 0, 0)), np.full((80, 80), 255, np.uint8)])
    for image in (plane, rgba):
        assert grey_plane(image) is None
        assert np.array_equal(
            on_each_channel(image, lambda p: np.asarray(cv2.flip(p, 0), np.uint8)), image[::-1]
        )

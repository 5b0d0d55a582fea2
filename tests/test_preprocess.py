from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from digit_detector.preprocess import INPUT_SIZE, ImageInputError, letterbox, preprocess, to_rgb


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

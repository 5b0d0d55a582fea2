"""Tests for digit_detector.boxes: conversions, validation, IoU and clipping (numpy and torch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from digit_detector.boxes import (
    BOX_FORMATS,
    BoxFormat,
    InvalidBoxError,
    box_iou,
    clip_xyxy,
    coco_to_xyxy,
    convert,
    inside_share,
    shift_xyxy,
    validate,
    xyxy_to_coco,
    xyxy_to_yolo,
    yolo_to_xyxy,
)

# Local settings (not a global profile, which would leak into other test modules).
FAST = settings(max_examples=60, deadline=None, derandomize=True)  # derandomized: CI runs are repeatable

# One box in every format, by hand: image 200 x 100 (width x height).
IMAGE = (200, 100)
XYXY = [20.0, 10.0, 60.0, 50.0]
COCO = [20.0, 10.0, 40.0, 40.0]
YOLO = [0.2, 0.3, 0.2, 0.4]
BY_FORMAT = {"pascal_voc": XYXY, "coco": COCO, "yolo": YOLO}


# --------------------------------------------------------------------------- strategies


@st.composite
def image_and_xyxy(draw: st.DrawFn, max_boxes: int = 20) -> tuple[tuple[int, int], NDArray[np.float64]]:
    """A random (width, height) and valid Pascal VOC boxes inside it (width, height > 0)."""
    width = draw(st.integers(1, 2000))
    height = draw(st.integers(1, 2000))
    n = draw(st.integers(0, max_boxes))
    u = draw(hnp.arrays(np.float64, (n, 4), elements=st.floats(0, 1)))
    min_size = 1e-2
    x1 = u[:, 0] * (width - min_size)
    y1 = u[:, 1] * (height - min_size)
    # the sums can exceed the edge by a rounding error (293 + 6e-14): keep them inside, as promised
    x2 = np.minimum(x1 + min_size + u[:, 2] * (width - min_size - x1), width)
    y2 = np.minimum(y1 + min_size + u[:, 3] * (height - min_size - y1), height)
    return (width, height), np.stack([x1, y1, x2, y2], axis=-1)


def _np(x: Any) -> NDArray[Any]:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# --------------------------------------------------------------------------- known values


@pytest.mark.parametrize("src", BOX_FORMATS)
@pytest.mark.parametrize("dst", BOX_FORMATS)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_convert_known_values(src: BoxFormat, dst: BoxFormat, backend: str) -> None:
    boxes: Any = np.array(BY_FORMAT[src]) if backend == "numpy" else torch.tensor(BY_FORMAT[src])
    out = convert(boxes, src, dst, IMAGE)
    assert type(out) is type(boxes)
    np.testing.assert_allclose(_np(out), BY_FORMAT[dst], rtol=1e-6, atol=1e-6)


def test_direct_functions_known_values() -> None:
    np.testing.assert_allclose(coco_to_xyxy(np.array(COCO)), XYXY)
    np.testing.assert_allclose(xyxy_to_coco(np.array(XYXY)), COCO)
    np.testing.assert_allclose(xyxy_to_yolo(np.array(XYXY), IMAGE), YOLO)
    np.testing.assert_allclose(yolo_to_xyxy(np.array(YOLO), IMAGE), XYXY)


def test_image_size_is_width_then_height() -> None:
    # A box covering the left half of a wide image.
    np.testing.assert_allclose(
        xyxy_to_yolo(np.array([0.0, 0.0, 100.0, 100.0]), (200, 100)), [0.25, 0.5, 0.5, 1]
    )


@pytest.mark.parametrize("shape", [(4,), (0, 4), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_shapes_preserved(shape: tuple[int, ...], backend: str) -> None:
    arr = np.broadcast_to(np.array(COCO), shape).copy()
    boxes: Any = arr if backend == "numpy" else torch.from_numpy(arr)
    for dst in BOX_FORMATS:
        out = convert(boxes, "coco", dst, IMAGE)
        assert tuple(out.shape) == shape
        if shape[0]:
            np.testing.assert_allclose(_np(out).reshape(-1, 4)[0], BY_FORMAT[dst], atol=1e-9)


def test_dtypes() -> None:
    assert convert(torch.tensor(COCO, dtype=torch.float32), "coco", "yolo", IMAGE).dtype == torch.float32
    assert convert(torch.tensor(COCO, dtype=torch.float64), "coco", "yolo", IMAGE).dtype == torch.float64
    assert convert(torch.tensor([1, 2, 3, 4]), "coco", "pascal_voc").is_floating_point()
    assert convert(np.array(COCO, dtype=np.float32), "coco", "yolo", IMAGE).dtype == np.float32
    assert convert(np.array([1, 2, 3, 4]), "coco", "pascal_voc").dtype == np.float64
    np.testing.assert_allclose(convert(np.array([1, 2, 3, 4]), "coco", "pascal_voc"), [1, 2, 4, 6])


def test_convert_same_format_returns_copy() -> None:
    arr = np.array(XYXY)
    out = convert(arr, "pascal_voc", "pascal_voc")
    out[0] = -1.0
    assert arr[0] == XYXY[0]
    t = torch.tensor(XYXY)
    out_t = convert(t, "pascal_voc", "pascal_voc")
    out_t[0] = -1.0
    assert t[0].item() == XYXY[0]


@pytest.mark.parametrize(("src", "dst"), [("coco", "yolo"), ("yolo", "pascal_voc"), ("yolo", "yolo")])
def test_convert_yolo_needs_image_size(src: BoxFormat, dst: BoxFormat) -> None:
    with pytest.raises(ValueError, match="image_size"):
        convert(np.array(YOLO), src, dst)


def test_convert_rejects_unknown_format_and_bad_image_size() -> None:
    with pytest.raises(ValueError, match="unknown box format"):
        convert(np.array(XYXY), "xywh", "coco")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        convert(np.array(XYXY), "pascal_voc", "yolo", (0, 100))


def test_conversion_rejects_wrong_shape() -> None:
    with pytest.raises(InvalidBoxError, match="shape"):
        coco_to_xyxy(np.zeros((3, 5)))
    with pytest.raises(InvalidBoxError, match="shape"):
        xyxy_to_yolo(torch.zeros(3), IMAGE)


def test_convert_validate_input() -> None:
    with pytest.raises(InvalidBoxError, match="width is negative"):
        convert(np.array([1.0, 1.0, -1.0, 1.0]), "coco", "pascal_voc", validate_input=True)
    np.testing.assert_allclose(convert(np.array(COCO), "coco", "yolo", IMAGE, validate_input=True), YOLO)


# --------------------------------------------------------------------------- properties


@FAST
@given(image_and_xyxy(), st.sampled_from(BOX_FORMATS), st.sampled_from(BOX_FORMATS))
def test_round_trip_numpy(
    data: tuple[tuple[int, int], NDArray[np.float64]], src: BoxFormat, dst: BoxFormat
) -> None:
    size, xyxy = data
    boxes = convert(xyxy, "pascal_voc", src, size)
    there = convert(boxes, src, dst, size)
    back = convert(there, dst, src, size)
    np.testing.assert_allclose(back, boxes, rtol=1e-9, atol=1e-9)
    validate(there, dst, size)


@FAST
@given(image_and_xyxy(), st.sampled_from(BOX_FORMATS), st.sampled_from(BOX_FORMATS))
def test_round_trip_torch_and_agreement(
    data: tuple[tuple[int, int], NDArray[np.float64]], src: BoxFormat, dst: BoxFormat
) -> None:
    size, xyxy = data
    boxes_np = convert(xyxy, "pascal_voc", src, size)
    out_np = convert(boxes_np, src, dst, size)
    # float64 torch matches numpy exactly enough; float32 within float32 precision.
    out64 = convert(torch.from_numpy(boxes_np), src, dst, size)
    np.testing.assert_allclose(out64.numpy(), out_np, rtol=1e-12, atol=1e-12)
    boxes32 = torch.from_numpy(boxes_np).float()
    out32 = convert(boxes32, src, dst, size)
    assert out32.dtype == torch.float32
    scale = 1.0 if dst == "yolo" else float(max(size))
    np.testing.assert_allclose(out32.numpy(), out_np, rtol=1e-5, atol=1e-5 * scale)
    back32 = convert(out32, dst, src, size)
    scale = 1.0 if src == "yolo" else float(max(size))
    np.testing.assert_allclose(back32.numpy(), boxes32.numpy(), rtol=1e-5, atol=1e-5 * scale)


@FAST
@given(image_and_xyxy())
def test_clip_leaves_inside_boxes_alone(data: tuple[tuple[int, int], NDArray[np.float64]]) -> None:
    size, xyxy = data
    np.testing.assert_array_equal(clip_xyxy(xyxy, size), xyxy)
    np.testing.assert_array_equal(clip_xyxy(torch.from_numpy(xyxy), size).numpy(), xyxy)


@FAST
@given(image_and_xyxy(max_boxes=8), image_and_xyxy(max_boxes=8))
def test_iou_numpy_matches_torchvision(
    a: tuple[tuple[int, int], NDArray[np.float64]], b: tuple[tuple[int, int], NDArray[np.float64]]
) -> None:
    boxes_a, boxes_b = a[1], b[1]
    iou_np = box_iou(boxes_a, boxes_b)
    iou_t = box_iou(torch.from_numpy(boxes_a), torch.from_numpy(boxes_b))
    assert iou_np.shape == (len(boxes_a), len(boxes_b))
    np.testing.assert_allclose(iou_np, iou_t.numpy(), rtol=1e-9, atol=1e-12)
    assert np.all((iou_np >= 0) & (iou_np <= 1 + 1e-12))
    np.testing.assert_allclose(box_iou(boxes_b, boxes_a), iou_np.T)
    np.testing.assert_allclose(np.diag(box_iou(boxes_a, boxes_a)), 1.0)


# --------------------------------------------------------------------------- IoU and clip


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_iou_known_values(backend: str) -> None:
    a = np.array([[0.0, 0.0, 2.0, 2.0]])
    b = np.array(
        [
            [0.0, 0.0, 2.0, 2.0],  # identical: 1
            [5.0, 5.0, 6.0, 6.0],  # disjoint: 0
            [2.0, 0.0, 4.0, 2.0],  # touching edge: 0
            [0.0, 0.0, 1.0, 2.0],  # left half of a: 2 / 4
            [1.0, 0.0, 3.0, 2.0],  # half of each overlaps: 2 / 6
        ]
    )
    expected = [[1.0, 0.0, 0.0, 0.5, 1 / 3]]
    if backend == "torch":
        out = box_iou(torch.from_numpy(a).float(), torch.from_numpy(b).float())
        assert out.dtype == torch.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    else:
        np.testing.assert_allclose(box_iou(a, b), expected)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_iou_empty(backend: str) -> None:
    a: Any = np.zeros((0, 4)) if backend == "numpy" else torch.zeros(0, 4)
    b: Any = np.array([XYXY]) if backend == "numpy" else torch.tensor([XYXY])
    assert tuple(box_iou(a, b).shape) == (0, 1)
    assert tuple(box_iou(b, a).shape) == (1, 0)


def test_iou_rejects_mixed_types_and_bad_shape() -> None:
    with pytest.raises(TypeError):
        box_iou(np.array([XYXY]), torch.tensor([XYXY]))  # type: ignore[type-var]
    with pytest.raises(InvalidBoxError, match=r"needs \(N, 4\)"):
        box_iou(np.array(XYXY), np.array([XYXY]))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_clip_known_values(backend: str) -> None:
    arr = np.array([[-5.0, 3.0, 250.0, 120.0], [10.0, -1.0, 20.0, 30.0]])
    boxes: Any = arr if backend == "numpy" else torch.from_numpy(arr)
    out = clip_xyxy(boxes, IMAGE)
    assert type(out) is type(boxes)
    np.testing.assert_array_equal(_np(out), [[0.0, 3.0, 200.0, 100.0], [10.0, 0.0, 20.0, 30.0]])


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_shift_moves_boxes_by_a_share_of_their_longer_side(backend: str) -> None:
    arr = np.array([[10.0, 20.0, 30.0, 70.0], [0.0, 0.0, 40.0, 10.0]])  # longer sides 50 (tall), 40 (wide)
    boxes: Any = arr if backend == "numpy" else torch.from_numpy(arr)
    out = shift_xyxy(boxes, 0.1, -0.5)
    assert type(out) is type(boxes)
    np.testing.assert_allclose(_np(out), [[15.0, -5.0, 35.0, 45.0], [4.0, -20.0, 44.0, -10.0]])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("fmt", "bad", "image_size", "reason"),
    [
        ("coco", [10.0, 5.0, -2.0, 4.0], None, "width is negative"),
        ("coco", [10.0, 5.0, 0.0, 4.0], None, "width is zero"),
        ("coco", [10.0, 5.0, 2.0, -4.0], None, "height is negative"),
        ("pascal_voc", [10.0, 5.0, 10.0, 8.0], None, "width is zero"),
        ("pascal_voc", [10.0, 5.0, 20.0, 5.0], None, "height is zero"),
        ("pascal_voc", [10.0, 5.0, 4.0, 8.0], None, "width is negative"),
        ("pascal_voc", [np.nan, 5.0, 20.0, 8.0], None, "not finite"),
        ("coco", [0.0, 0.0, np.inf, 8.0], None, "not finite"),
        ("yolo", [0.5, 0.5, 0.0, 0.1], None, "width is zero"),
        ("pascal_voc", [-1.0, 5.0, 20.0, 8.0], IMAGE, "outside the image: left edge"),
        ("pascal_voc", [1.0, -5.0, 20.0, 8.0], IMAGE, "outside the image: top edge"),
        ("pascal_voc", [1.0, 5.0, 201.0, 8.0], IMAGE, "outside the image: right edge > image width 200"),
        ("coco", [150.0, 5.0, 60.0, 8.0], IMAGE, "outside the image: right edge"),
        ("coco", [10.0, 95.0, 6.0, 8.0], IMAGE, "outside the image: bottom edge > image height 100"),
        ("yolo", [0.05, 0.5, 0.2, 0.1], None, "outside the image: left edge"),
        ("yolo", [0.5, 0.95, 0.2, 0.2], None, "outside the image: bottom edge"),
    ],
)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_validate_errors(
    fmt: BoxFormat, bad: list[float], image_size: Any, reason: str, backend: str
) -> None:
    good = BY_FORMAT[fmt]
    arr = np.array([good, good, good, bad, good])
    boxes: Any = arr if backend == "numpy" else torch.from_numpy(arr)
    with pytest.raises(InvalidBoxError) as info:
        validate(boxes, fmt, image_size)
    message = str(info.value)
    assert message.startswith(f"box 3 [{bad[0]}, ")
    assert f"({fmt}): " in message
    assert reason in message
    assert info.value.index == 3
    assert reason in info.value.reason
    np.testing.assert_array_equal(info.value.box, bad)


def test_validate_message_example() -> None:
    boxes = np.array([COCO, COCO, COCO, [10.0, 5.0, -2.0, 4.0]])
    with pytest.raises(
        InvalidBoxError, match=r"^box 3 \[10\.0, 5\.0, -2\.0, 4\.0\] \(coco\): width is negative$"
    ):
        validate(boxes, "coco")


def test_validate_reports_first_bad_box_and_count() -> None:
    boxes = np.array([COCO, [1.0, 1.0, 0.0, 1.0], COCO, [1.0, 1.0, -1.0, 1.0], [np.nan] * 4])
    with pytest.raises(InvalidBoxError, match=r"^box 1 .*width is zero \(2 more invalid boxes\)$"):
        validate(boxes, "coco")


def test_validate_single_box_and_nd_index() -> None:
    with pytest.raises(InvalidBoxError, match=r"^box 0 \[1\.0, 1\.0, 0\.0, 1\.0\]"):
        validate(np.array([1.0, 1.0, 0.0, 1.0]), "coco")
    batch = np.broadcast_to(np.array(COCO), (2, 3, 4)).copy()
    batch[1, 2, 2] = -1.0
    with pytest.raises(InvalidBoxError, match=r"^box \(1, 2\) ") as info:
        validate(batch, "coco")
    assert info.value.index == (1, 2)


def test_validate_wrong_shape() -> None:
    for boxes in (np.zeros((3, 5)), torch.zeros(2, 3), np.array(1.0)):
        with pytest.raises(InvalidBoxError, match=r"shape \(\.\.\., 4\)"):
            validate(boxes, "coco")


def test_validate_accepts_valid_and_empty() -> None:
    for fmt in BOX_FORMATS:
        validate(np.array([BY_FORMAT[fmt]]), fmt, IMAGE)
        validate(torch.tensor(BY_FORMAT[fmt]), fmt, IMAGE)
        validate(np.zeros((0, 4)), fmt, IMAGE)
    # Boxes exactly on the border are inside; the tolerance forgives round-off past it.
    validate(np.array([0.0, 0.0, 200.0, 100.0]), "pascal_voc", IMAGE)
    validate(np.array([0.0, 0.0, 200.0 + 1e-9, 100.0]), "pascal_voc", IMAGE)
    with pytest.raises(InvalidBoxError, match="right edge"):
        validate(np.array([0.0, 0.0, 200.5, 100.0]), "pascal_voc", IMAGE)
    validate(np.array([0.0, 0.0, 200.5, 100.0]), "pascal_voc", IMAGE, tolerance=1.0)
    # Without image_size pixel boxes are not bounded.
    validate(np.array([1000.0, 1000.0, 2000.0, 2000.0]), "pascal_voc")


def test_validate_float32_values_printed_shortest() -> None:
    with pytest.raises(InvalidBoxError, match=r"^box 0 \[0\.1, 0\.2, 0\.0, 0\.3\] \(yolo\)"):
        validate(torch.tensor([[0.1, 0.2, 0.0, 0.3]]), "yolo")


def test_inside_share_is_the_share_of_each_box_inside_each_other() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 20, 30]], dtype=np.float32)  # the second has no area
    b = np.array([[0, 0, 5, 10], [-5, -5, 30, 30], [50, 50, 60, 60]], dtype=np.float32)
    share = inside_share(a, b)
    assert share.shape == (2, 3) and share.dtype == np.float32
    np.testing.assert_allclose(share[0], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(share[1], [0.0, 0.0, 0.0])

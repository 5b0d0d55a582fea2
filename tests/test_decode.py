"""Decode and suppression on hand-built head outputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from digit_detector.decode import contained, decode, select
from digit_detector.models import DEFAULT_ANCHORS

SIZE = 192
GRIDS = (6, 12, 24)
ANCHORS = torch.tensor(DEFAULT_ANCHORS)


def empty_outputs(num_classes: int = 12) -> list[torch.Tensor]:
    """Heads that predict nothing: objectness logit -20 everywhere."""
    outputs = [torch.zeros(1, 3, s, s, 5 + num_classes) for s in GRIDS]
    for output in outputs:
        output[..., 0] = -20.0
    return outputs


def place(
    outputs: list[torch.Tensor],
    scale: int,
    anchor: int,
    row: int,
    col: int,
    class_id: int,
    size_factor: float = 1.0,
    objectness: float = 10.0,
    class_logit: float = 10.0,
) -> None:
    """A confident prediction centred in cell (row, col): x, y logits 0 -> offset 0.5."""
    cell = outputs[scale][0, anchor, row, col]
    cell[0] = objectness
    cell[1:3] = 0.0
    cell[3:5] = math.log(size_factor)
    cell[5:] = 0.0
    cell[5 + class_id] = class_logit


def test_decode_geometry() -> None:
    outputs = empty_outputs()
    place(outputs, scale=0, anchor=1, row=2, col=3, class_id=7, size_factor=2.0)
    decoded = decode(outputs, ANCHORS, SIZE)
    assert decoded.shape == (1, 3 * (36 + 144 + 576), 17)
    best = decoded[0, decoded[0, :, 4].argmax()]
    stride = SIZE / 6
    cx, cy = (3 + 0.5) * stride, (2 + 0.5) * stride
    w, h = 2 * 0.38 * SIZE, 2 * 0.48 * SIZE
    torch.testing.assert_close(best[:4], torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
    assert best[4] == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item())
    assert int(best[5:].argmax()) == 7


def test_decode_with_xy_scale_reaches_half_a_cell_outside() -> None:
    outputs = empty_outputs()
    place(outputs, scale=0, anchor=1, row=2, col=3, class_id=7)
    outputs[0][0, 1, 2, 3, 1:3] = torch.tensor([30.0, -30.0])  # sigmoid -> 1 and 0
    stride = SIZE / 6
    plain = decode(outputs, ANCHORS, SIZE)[0]
    wide = decode(outputs, ANCHORS, SIZE, xy_scale=2.0)[0]
    best = int(plain[:, 4].argmax())
    centre = lambda row: ((row[0] + row[2]) / 2, (row[1] + row[3]) / 2)  # noqa: E731
    assert centre(plain[best]) == pytest.approx(((3 + 1) * stride, 2 * stride), abs=1e-3)
    assert centre(wide[best]) == pytest.approx(((3 + 1.5) * stride, (2 - 0.5) * stride), abs=1e-3)


def test_select_thresholds_scores() -> None:
    outputs = empty_outputs()
    place(outputs, 1, 0, 5, 5, class_id=2, objectness=-1.0)  # sigmoid(-1) ~ 0.27 < 0.5
    place(outputs, 1, 0, 8, 2, class_id=3)
    found = select(decode(outputs, ANCHORS, SIZE), score_threshold=0.5, iou_threshold=0.45)[0]
    assert found.class_ids.tolist() == [3]


def test_two_classes_on_one_object_leave_one_detection_by_default() -> None:
    outputs = empty_outputs()
    # the same place at the same scale, two anchors of similar size, two different classes
    place(outputs, 1, 0, 6, 6, class_id=1, class_logit=10.0)
    place(outputs, 1, 2, 6, 6, class_id=7, class_logit=3.0, size_factor=0.6)
    decoded = decode(outputs, ANCHORS, SIZE)
    agnostic = select(decoded, 0.5, 0.3)[0]
    per_class = select(decoded, 0.5, 0.3, class_agnostic=False)[0]
    assert agnostic.class_ids.tolist() == [1]
    assert sorted(per_class.class_ids.tolist()) == [1, 7]


def test_separate_objects_survive_suppression_in_score_order() -> None:
    outputs = empty_outputs()
    place(outputs, 2, 0, 3, 3, class_id=4, objectness=3.0)
    place(outputs, 2, 0, 20, 20, class_id=5, objectness=8.0)
    found = select(decode(outputs, ANCHORS, SIZE), 0.5, 0.45)[0]
    assert found.class_ids.tolist() == [5, 4]
    assert found.scores[0] > found.scores[1]


def test_nothing_found_gives_empty_tensors() -> None:
    found = select(decode(empty_outputs(), ANCHORS, SIZE), 0.5, 0.45)[0]
    assert found.boxes.shape == (0, 4) and found.scores.numel() == 0


def test_contained_marks_a_part_inside_a_larger_box_whatever_the_scores() -> None:
    boxes = torch.tensor([[10.0, 10.0, 20.0, 60.0], [0.0, 0.0, 50.0, 70.0], [60.0, 0.0, 100.0, 70.0]])
    assert contained(boxes, 0.8).tolist() == [True, False, False]
    # half inside: kept at 0.8, dropped at 0.4
    half = torch.tensor([[40.0, 10.0, 60.0, 60.0], [0.0, 0.0, 50.0, 70.0]])
    assert contained(half, 0.8).tolist() == [False, False]
    assert contained(half, 0.4).tolist() == [True, False]
    assert contained(boxes[:1], 0.5).tolist() == [False]


def test_a_box_around_a_row_of_stronger_boxes_is_dropped_instead_of_them() -> None:
    """A number "174" proposed as one `other` box as well as digit by digit: the digits stay."""
    row = [[0.0, 0.0, 30.0, 50.0], [32.0, 0.0, 62.0, 50.0], [64.0, 0.0, 94.0, 50.0], [0.0, 0.0, 94.0, 50.0]]
    boxes = np.array(row, dtype=np.float32)
    digits_stronger = np.array([0.9, 0.8, 0.95, 0.6], dtype=np.float32)
    assert contained(boxes, 0.5, digits_stronger).tolist() == [False, False, False, True]
    assert contained(boxes, 0.5).tolist() == [True, True, True, False]  # without scores: the old rule
    # only one part outscores the whole: parts of one object, dropped as before
    one_stronger = np.array([0.9, 0.5, 0.4, 0.6], dtype=np.float32)
    assert contained(boxes, 0.5, one_stronger).tolist() == [True, True, True, False]
    # a fragment inside a kept digit still goes: the stem inside the first digit's box
    with_stem = np.vstack([boxes, [[2.0, 2.0, 8.0, 48.0]]]).astype(np.float32)
    scores = np.append(digits_stronger, 0.99).astype(np.float32)
    assert contained(with_stem, 0.5, scores).tolist() == [False, False, False, True, True]
    # two parts fitted to the same stroke: equal boxes, the weaker one goes
    twins = np.array([[0.0, 0.0, 30.0, 50.0], [0.0, 0.0, 30.0, 50.0]], dtype=np.float32)
    assert contained(twins, 0.5, np.array([0.4, 0.9], dtype=np.float32)).tolist() == [True, False]
    assert contained(twins, 0.5, np.array([0.9, 0.9], dtype=np.float32)).tolist() == [False, True]
    assert contained(torch.from_numpy(boxes), 0.5, torch.from_numpy(digits_stronger)).tolist() == [
        False,
        False,
        False,
        True,
    ]


def test_containment_drops_the_stroke_read_as_a_one_even_when_it_scores_higher() -> None:
    outputs = empty_outputs()
    place(outputs, scale=0, anchor=1, row=2, col=2, class_id=4)  # a 4: 0.38 x 0.48 of the image
    place(outputs, scale=1, anchor=0, row=5, col=5, class_id=1, objectness=12.0)  # a thin 1 inside it
    found = select(decode(outputs, ANCHORS, SIZE), 0.5, 0.45)[0]
    assert found.class_ids.tolist() == [1, 4]
    assert contained(found.boxes, 0.7, found.scores, found.class_ids).tolist() == [True, False]


def test_a_looser_copy_of_a_digit_goes_and_a_loop_read_as_a_zero_does_not() -> None:
    boxes = np.array([[0.0, 0.0, 40.0, 60.0], [4.0, 4.0, 38.0, 58.0]], dtype=np.float32)  # inner: 77 %
    surer_inside = np.array([0.8, 0.95], dtype=np.float32)
    assert contained(boxes, 0.5, surer_inside, np.array([6, 6])).tolist() == [True, False]
    assert contained(boxes, 0.5, surer_inside, np.array([9, 0])).tolist() == [False, True]
    assert contained(boxes, 0.5, surer_inside).tolist() == [False, True]  # without names: a part
    loop = np.array([[0.0, 0.0, 40.0, 60.0], [0.0, 0.0, 40.0, 25.0]], dtype=np.float32)  # 42 % of it
    assert contained(loop, 0.5, surer_inside, np.array([9, 9])).tolist() == [False, True]


def test_a_sure_digit_a_too_wide_neighbour_reaches_into_stays_and_a_part_does_not() -> None:
    """`85` drawn touching: the `8` box reaches over 60 % of the `5`. A `5` the namer is sure of and that
    outscores the `8` box is a neighbour; unsure, weaker, or lying wholly inside (a stem), it is a part."""
    eight, five = [0.0, 0.0, 40.0, 60.0], [22.0, 0.0, 52.0, 60.0]  # 18 of the 5's 30 px inside (60 %)
    boxes = np.array([eight, five], dtype=np.float32)
    digits = np.array([8, 5])
    assert contained(
        boxes, 0.5, np.array([0.8, 0.9], np.float32), digits, np.array([0.9, 0.95])
    ).tolist() == [
        False,
        False,
    ]
    assert contained(boxes, 0.5, np.array([0.8, 0.9], np.float32), digits).tolist() == [False, True]
    assert contained(boxes, 0.5, np.array([0.8, 0.9], np.float32), digits, np.array([0.9, 0.7])).tolist() == [
        False,
        True,
    ]  # unsure of its name
    assert contained(
        boxes, 0.5, np.array([0.9, 0.8], np.float32), digits, np.array([0.9, 0.95])
    ).tolist() == [
        False,
        True,
    ]  # weaker than the box it is in
    stem = np.array([eight, [20.0, 5.0, 30.0, 55.0]], dtype=np.float32)  # wholly inside
    assert contained(
        stem, 0.5, np.array([0.8, 0.9], np.float32), np.array([4, 1]), np.array([0.9, 0.99])
    ).tolist() == [
        False,
        True,
    ]
    other = np.array([11, 5])  # inside a doodle it reaches out of, a sure digit stays as well
    assert contained(boxes, 0.5, np.array([0.8, 0.9], np.float32), other, np.array([0.9, 0.95])).tolist() == [
        False,
        False,
    ]


def test_a_thin_stroke_a_pixel_out_of_its_digit_is_still_a_part() -> None:
    """The bar of a 7 drawn with a thin pen, read as a sure `1`, its box a pixel above the 7's (80 % inside):
    it does not reach out of the 7 by a tenth of its height, so it is a part, not a neighbour."""
    boxes = np.array([[93.0, 39.0, 308.0, 393.0], [94.0, 38.0, 136.0, 43.0]], dtype=np.float32)
    scores = np.array([0.85, 0.88], np.float32)
    assert contained(boxes, 0.5, scores, np.array([7, 1]), np.array([0.92, 0.95])).tolist() == [False, True]

"""Boxes fitted to the drawn ink (digit_detector.ink)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digit_detector.ink import fit_boxes_to_ink


def paper(size: int = 200) -> np.ndarray:
    return np.full((size, size), 255, dtype=np.uint8)


def ink_extent(gray: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(gray < 128)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def test_a_loose_box_shrinks_to_the_stroke() -> None:
    gray = paper()
    cv2.line(gray, (100, 40), (104, 150), 0, 5)  # a thin "1"
    (fitted,) = fit_boxes_to_ink(gray, np.array([[88.0, 30.0, 118.0, 160.0]]))
    assert tuple(fitted) == ink_extent(gray)


def test_a_box_that_cuts_the_stroke_short_grows_to_its_end() -> None:
    gray = paper()
    cv2.line(gray, (50, 100), (150, 100), 0, 6)
    box = np.array([[45.0, 90.0, 140.0, 110.0]])  # misses the last tenth of the stroke
    (fitted,) = fit_boxes_to_ink(gray, box)
    assert tuple(fitted) == ink_extent(gray)


def test_a_touching_neighbour_stays_outside() -> None:
    gray = paper()
    cv2.circle(gray, (60, 100), 30, 0, 5)  # "00" drawn with the two digits touching
    cv2.circle(gray, (121, 100), 30, 0, 5)
    box = np.array([[20.0, 60.0, 94.0, 140.0]])  # loose, and reaching into the second digit
    (fitted,) = fit_boxes_to_ink(gray, box)
    assert fitted[2] <= 94.0  # not grown over the neighbour
    assert fitted[0] == pytest.approx(ink_extent(gray)[0])
    assert fitted[1] == pytest.approx(ink_extent(gray)[1])


def test_a_stroke_that_runs_on_past_the_neighbourhood_is_not_taken_whole() -> None:
    """A touching ``85``: the 8's box holds most of the joined stroke it can see, but the stroke runs on
    into the 5, out of the box's neighbourhood, so the 8's box is not grown over the 5."""
    gray = paper(400)
    cv2.circle(gray, (150, 150), 40, 0, 10)  # the 8's loops
    cv2.circle(gray, (150, 235), 45, 0, 10)
    cv2.line(gray, (190, 150), (330, 150), 0, 10)  # the 5's bar, joined to the 8 and running on
    cv2.line(gray, (330, 150), (330, 280), 0, 10)
    box = np.array([[105.0, 105.0, 196.0, 285.0]])  # the 8 as regressed, reaching into the joint
    (fitted,) = fit_boxes_to_ink(gray, box)
    assert fitted[2] <= 196.0  # before: grown to the neighbourhood's edge (241)
    assert fitted[0] == pytest.approx(105.0) and fitted[3] == pytest.approx(285.0)


def test_boxes_without_ink_and_dark_backgrounds_keep_their_place() -> None:
    boxes = np.array([[20.0, 20.0, 80.0, 90.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(fit_boxes_to_ink(paper(), boxes), boxes)
    dark = np.full((200, 200), 40, dtype=np.uint8)
    cv2.line(dark, (50, 50), (60, 150), 255, 6)  # white ink on a dark background
    np.testing.assert_array_equal(fit_boxes_to_ink(dark, boxes[:1]), boxes[:1])


def test_rgb_and_gray_fit_alike_and_no_boxes_is_fine() -> None:
    gray = paper()
    cv2.putText(gray, "7", (60, 150), cv2.FONT_HERSHEY_SIMPLEX, 4, 0, 8)
    box = np.array([[50.0, 40.0, 150.0, 170.0]])
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(fit_boxes_to_ink(rgb, box), fit_boxes_to_ink(gray, box))
    assert fit_boxes_to_ink(gray, np.zeros((0, 4))).shape == (0, 4)


def test_the_detector_shows_boxes_fitted_to_the_ink_unless_told_not_to() -> None:
    import torch

    from digit_detector.detector import Detector
    from digit_detector.models import DEFAULT_ANCHORS
    from digit_detector.weights import WeightsMetadata

    regressed = [30.0, 20.0, 90.0, 170.0]  # model-input pixels = image pixels on a 192x192 canvas

    def backend(batch: torch.Tensor) -> torch.Tensor:
        decoded = torch.zeros(len(batch), 1, 17)
        decoded[:, 0, :4] = torch.tensor(regressed)
        decoded[:, 0, 4] = 0.9
        decoded[:, 0, 6] = 1.0  # a 1
        return decoded

    metadata = WeightsMetadata.from_dict(
        {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.5}
    )
    canvas = paper(192)
    cv2.line(canvas, (60, 35), (62, 150), 0, 6)
    (shown,) = Detector(backend, metadata)(canvas).detections
    assert shown.box == pytest.approx(ink_extent(canvas)) and shown.label == "1"
    (raw,) = Detector(backend, metadata, fit_to_ink=False)(canvas).detections
    assert raw.box == pytest.approx(regressed)


def test_grey_and_coloured_ink_fit_alike() -> None:
    """A grey RGB drawing is fitted from its one plane, a coloured one from its grey levels: the same boxes
    as the plain grey image gives."""
    gray = paper()
    cv2.line(gray, (100, 40), (104, 150), 90, 5)
    cv2.circle(gray, (50, 60), 20, 0, 4)
    boxes = np.array([[88.0, 30.0, 118.0, 160.0], [25.0, 35.0, 70.0, 90.0]])
    expected = fit_boxes_to_ink(gray, boxes)
    grey_rgb = np.dstack([gray, gray, gray])
    red_ink = np.dstack([np.full_like(gray, 255), gray, gray])  # red strokes: grey levels 76-255, not ink
    np.testing.assert_array_equal(fit_boxes_to_ink(grey_rgb, boxes), expected)
    reddish = fit_boxes_to_ink(red_ink, boxes)
    np.testing.assert_array_equal(reddish, fit_boxes_to_ink(cv2.cvtColor(red_ink, cv2.COLOR_RGB2GRAY), boxes))

from __future__ import annotations

import numpy as np

from digit_detector.reading import failure_kind, group_lines, read_number


def box(x: float, y: float, w: float = 30, h: float = 50) -> list[float]:
    return [x, y, x + w, y + h]


def test_reads_a_row_left_to_right_whatever_the_detection_order() -> None:
    boxes = np.array([box(200, 100), box(20, 105), box(110, 95)])
    assert read_number([3, 1, 2], boxes) == "123"


def test_lines_top_to_bottom_and_other_classes_ignored() -> None:
    boxes = np.array([box(20, 250), box(80, 240), box(20, 40), box(80, 45), box(150, 40), box(300, 300)])
    class_ids = [4, 2, 7, 0, 11, 10]  # other (11) sits in the first line, censored (10) alone
    assert read_number(class_ids, boxes) == "70\n42"


def test_baseline_drift_stays_one_line() -> None:
    boxes = np.array([box(10 + 40 * i, 100 + 6 * i) for i in range(5)])
    assert group_lines(boxes) == [[0, 1, 2, 3, 4]]


def test_no_digits_reads_empty() -> None:
    assert read_number([], np.zeros((0, 4))) == ""
    assert read_number([11], np.array([box(0, 0)])) == ""


def test_a_misread_number_is_told_by_how_it_differs() -> None:
    assert failure_kind("2026", "226") == "fewer digits than drawn"
    assert failure_kind("47", "417") == "more digits than drawn"
    assert failure_kind("85", "86") == "right count, a wrong digit"
    assert failure_kind("12\n34", "1234") == "right digits, other order or lines"


def test_a_number_written_on_a_slope_stays_one_line() -> None:
    """Each digit 25 px higher than the one before (a 50 px digit every 45 px: about 30 degrees): one
    line, left to right (the line-mean rule of 4.6.0 read it as `345` over `12`)."""
    boxes = np.array([box(10 + 45 * i, 300 - 25 * i) for i in range(5)])
    assert read_number([1, 2, 3, 4, 5], boxes) == "12345"


def test_two_lines_whose_digits_interleave_left_to_right_stay_apart() -> None:
    boxes = np.array([box(20, 40), box(200, 45), box(60, 120), box(110, 42), box(150, 118)])
    assert read_number([1, 3, 4, 2, 5], boxes) == "123\n45"

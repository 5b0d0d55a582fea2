"""An `other` in a row of digits, about as tall, with a close digit second is read as that digit."""

from __future__ import annotations

import pytest

from digit_detector.classes import CLASS_NAMES
from digit_detector.reading import read_number
from digit_detector.results import Detection
from digit_detector.second_stage import others_in_lines_as_digits
from test_lone_digit import other_with_runner_up


def digit(name: str, left: float, top: float = 10, height: float = 80) -> Detection:
    return Detection(name, int(name), 0.9, (left, top, left + 50, top + height), objectness=0.95)


def number(detections: list[Detection]) -> str:
    return read_number([d.class_id for d in detections], [d.box for d in detections])


def test_an_other_between_two_digits_is_read_as_its_runner_up_digit() -> None:
    row = [digit("1", 10), other_with_runner_up("8", 0.3, (70, 10, 120, 90)), digit("5", 130)]
    assert number(row) == "15"
    read = others_in_lines_as_digits(row, CLASS_NAMES, 0.25)
    assert number(read) == "185"
    assert (read[1].label, read[1].runner_up, read[1].shown_label) == ("8", "other", "8 or other")
    assert read[0] == row[0] and read[2] == row[2]


@pytest.mark.parametrize(
    ("detections", "min_probability"),
    [
        # the digit is not close enough
        ([digit("1", 10), other_with_runner_up("8", 0.2, (70, 10, 120, 90)), digit("5", 130)], 0.25),
        # the weights have no such rule
        ([digit("1", 10), other_with_runner_up("8", 0.3, (70, 10, 120, 90)), digit("5", 130)], None),
        # only one digit in its line
        ([digit("1", 10), other_with_runner_up("8", 0.3, (70, 10, 120, 90))], 0.25),
        # far taller than the digits of its line (a shape drawn around or beside them)
        (
            [digit("1", 10, 100), other_with_runner_up("8", 0.3, (70, 10, 120, 250)), digit("5", 130, 100)],
            0.25,
        ),
        # in another line, under the number
        ([digit("1", 10), digit("5", 70), other_with_runner_up("8", 0.3, (40, 200, 90, 280))], 0.25),
        # the runner-up is no digit
        ([digit("1", 10), other_with_runner_up("censored", 0.4, (70, 10, 120, 90)), digit("5", 130)], 0.25),
    ],
)
def test_anything_else_is_left_as_it_is(detections: list[Detection], min_probability: float | None) -> None:
    assert others_in_lines_as_digits(detections, CLASS_NAMES, min_probability) == detections

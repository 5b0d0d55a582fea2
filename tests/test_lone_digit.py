"""The lone-digit rule: a lone box named `other` with a close digit second is read as that digit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from digit_detector.classes import CLASS_NAMES, OTHER_ID
from digit_detector.detector import Detector
from digit_detector.models import DEFAULT_ANCHORS
from digit_detector.results import Detection, DetectionResult
from digit_detector.second_stage import lone_other_as_digit
from digit_detector.training.keep_rule import Canvas
from digit_detector.training.lone_digit import choose_lone_digit_probability, read_at
from digit_detector.weights import WeightsError, WeightsMetadata, read_metadata

RECORD = {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}}


def other_with_runner_up(
    digit: str, digit_probability: float, box: tuple[float, ...] = (10, 10, 90, 90)
) -> Detection:
    objectness = 0.9
    return Detection(
        "other",
        OTHER_ID,
        objectness * (1.0 - digit_probability),
        (box[0], box[1], box[2], box[3]),
        runner_up=digit,
        runner_up_score=objectness * digit_probability,
        objectness=objectness,
    )


def test_a_lone_other_with_a_close_digit_is_read_as_the_digit_and_keeps_other_as_runner_up() -> None:
    (read,) = lone_other_as_digit([other_with_runner_up("0", 0.3)], CLASS_NAMES, 0.25)
    assert (read.label, read.class_id, read.runner_up) == ("0", 0, "other")
    assert read.score == pytest.approx(0.9 * 0.3) and read.runner_up_score == pytest.approx(0.9 * 0.7)
    assert read.shown_label == "0 or other"


@pytest.mark.parametrize(
    ("detections", "min_probability"),
    [
        ([other_with_runner_up("0", 0.2)], 0.25),  # the digit is not close enough
        ([other_with_runner_up("0", 0.3)], None),  # the weights have no such rule
        ([other_with_runner_up("censored", 0.4)], 0.25),  # the runner-up is no digit
        (
            [other_with_runner_up("0", 0.3), other_with_runner_up("7", 0.3, (100, 10, 150, 90))],
            0.25,
        ),  # not lone
        (
            [replace(other_with_runner_up("0", 0.3), label="3", class_id=3, runner_up="other")],
            0.25,
        ),  # a digit
    ],
)
def test_anything_else_is_left_as_it_is(detections: list[Detection], min_probability: float | None) -> None:
    assert lone_other_as_digit(detections, CLASS_NAMES, min_probability) == detections


def test_the_value_survives_the_weights_record_and_a_wrong_one_is_a_weights_error(tmp_path: Path) -> None:
    metadata = WeightsMetadata.from_dict({**RECORD, "lone_digit_min_probability": 0.25})
    assert metadata.lone_digit_min_probability == 0.25
    assert WeightsMetadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata
    assert WeightsMetadata.from_dict(RECORD).lone_digit_min_probability is None  # older weights: no rule
    (tmp_path / "w.json").write_text(json.dumps({**RECORD, "lone_digit_min_probability": 1.5}))
    with pytest.raises(WeightsError, match="lone_digit_min_probability must be a number from 0 to 1"):
        read_metadata(tmp_path / "w.safetensors")


def test_the_detector_shows_it_and_the_choice_reads_more_single_digits_without_more_other_taken() -> None:
    detector = Detector(backend=None, metadata=WeightsMetadata.from_dict(RECORD))  # type: ignore[arg-type]
    zero = Canvas(
        [0],
        np.array([[10, 10, 90, 90]], np.float64),
        DetectionResult([other_with_runner_up("0", 0.27)], "", (100, 100), 0.0),
    )
    # a doodle the namer hesitates over more: a rule at 0.2 would take it for a 4
    doodle = Canvas(
        [OTHER_ID],
        np.array([[10, 10, 90, 90]], np.float64),
        DetectionResult([other_with_runner_up("4", 0.22)], "", (100, 100), 0.0),
    )
    assert detector.shown(zero.result.detections, None) == zero.result.detections  # no rule in its weights
    assert read_at(detector, [zero, doodle], None).single_digit_correct == 0
    chosen, readings = choose_lone_digit_probability(detector, [zero, doodle])
    assert chosen == 0.25  # 0.2 reads the 0 too but takes the doodle for a 4; 0.3 misses the 0
    assert readings["digit at p >= 0.2"].other_taken == 1
    assert readings["digit at p >= 0.25"].single_digit_correct == 1
    assert detector.metadata.lone_digit_min_probability is None  # the replay left the weights as they were
    ruled = Detector(backend=None, metadata=replace(detector.metadata, lone_digit_min_probability=chosen))  # type: ignore[arg-type]
    assert [d.label for d in ruled.reselect(zero.result, 0.5, 0.5).detections] == ["0"]
    assert ruled.reselect(zero.result, 0.95).detections == []  # under the score threshold nothing is shown

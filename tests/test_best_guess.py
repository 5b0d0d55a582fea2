"""The best guess: a canvas on which nothing reaches the score threshold shows its most likely box."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from digit_detector.classes import OTHER_ID
from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.models import DEFAULT_ANCHORS
from digit_detector.probe_drawings import digit_strokes
from digit_detector.results import Detection, DetectionResult
from digit_detector.training.lone_digit import make_best_guess_weights
from digit_detector.weights import DEFAULT_WEIGHTS, WeightsError, WeightsMetadata, read_metadata

RECORD = {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.45}


def named(label: str, class_id: int, objectness: float, box: tuple[float, float, float, float]) -> Detection:
    return Detection(label, class_id, objectness * 0.9, box, objectness=objectness)


SEVEN = named("7", 7, 0.37, (10, 10, 90, 190))
PART = named("1", 1, 0.2, (60, 10, 90, 100))


def guessing(floor: float | None, lone_digit: float | None = None) -> Detector:
    """A detector with a namer (its presence is all the rule asks of it) and ``floor`` in its weights."""
    metadata = replace(
        WeightsMetadata.from_dict(RECORD),
        best_guess_min_objectness=floor,
        lone_digit_min_probability=lone_digit,
    )
    return Detector(backend=None, metadata=metadata, namer=lambda *args: None)  # type: ignore[arg-type]


def test_nothing_over_the_threshold_shows_the_most_likely_box_from_the_floor_up() -> None:
    assert guessing(0.3).best_guess([PART, SEVEN], 0.45) == [SEVEN]
    assert guessing(0.4).best_guess([PART, SEVEN], 0.45) == []  # the most likely is under the floor too
    assert guessing(None).best_guess([PART, SEVEN], 0.45) == []  # weights without the field: never
    assert guessing(0.3).best_guess([PART, SEVEN], 0.3) == []  # a threshold at the floor: nothing more
    assert guessing(0.3).best_guess([], 0.45) == []


def test_the_replay_shows_the_guess_only_where_nothing_else_is_shown() -> None:
    detector = guessing(0.3)
    lone = DetectionResult([SEVEN, PART], "", (200, 200), 0.0)
    assert detector.reselect(lone, 0.45, 0.5).detections == [SEVEN]
    sure = replace(SEVEN, objectness=0.8, score=0.72, box=(100, 10, 190, 190))
    several = DetectionResult([sure, SEVEN, PART], "", (200, 200), 0.0)
    assert detector.reselect(several, 0.45, 0.5).detections == [sure]  # something shown: no guess


def test_a_guessed_other_with_a_close_digit_follows_the_lone_digit_rule() -> None:
    doodle = Detection(
        "other", OTHER_ID, 0.2, (10, 10, 90, 90), runner_up="0", runner_up_score=0.15, objectness=0.35
    )
    (guess,) = guessing(0.3, lone_digit=0.25).best_guess([doodle], 0.45)
    assert (guess.label, guess.runner_up) == ("0", "other")


def test_the_value_survives_the_weights_record_and_a_wrong_one_is_a_weights_error(tmp_path: Path) -> None:
    metadata = WeightsMetadata.from_dict({**RECORD, "best_guess_min_objectness": 0.3})
    assert metadata.best_guess_min_objectness == 0.3
    assert WeightsMetadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata
    assert WeightsMetadata.from_dict(RECORD).best_guess_min_objectness is None  # older weights: no guess
    (tmp_path / "w.json").write_text(json.dumps({**RECORD, "best_guess_min_objectness": -0.1}))
    with pytest.raises(WeightsError, match="best_guess_min_objectness must be a number from 0 to 1"):
        read_metadata(tmp_path / "w.safetensors")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_the_shipped_detector_answers_a_drawing_at_any_threshold_and_a_blank_canvas_never(
    backend: str,
) -> None:
    """The whole path (select again from the floor, name, show one box) on the shipped weights, PyTorch and
    onnxruntime alike: a clear `4` scores under a threshold of 0.99 and is still answered; a blank canvas
    gets nothing."""
    detector = Detector.from_weights(DEFAULT_WEIGHTS, device="cpu", backend=backend)
    assert detector.metadata.best_guess_min_objectness is not None
    four = render_strokes(digit_strokes("4", 130, 80, 240))
    assert [d.label for d in detector(four).detections] == ["4"]
    (guess,) = detector(four, score_threshold=0.99).detections
    assert guess.label == "4" and (guess.objectness or 0.0) < 0.99
    blank = render_strokes([])
    assert detector(blank, score_threshold=0.99).detections == []
    without = replace(detector.metadata, best_guess_min_objectness=None)
    plain = Detector(detector.backend, without, namer=detector.namer, fit_to_ink=detector.fit_to_ink)
    assert plain(four, score_threshold=0.99).detections == []


def test_best_guess_writes_weights_with_the_value_and_refuses_one_over_the_threshold(
    random_tiny_weights: Path, tmp_path: Path
) -> None:
    written = make_best_guess_weights(
        random_tiny_weights, tmp_path / "out", 0.3, command="cmd", version="v-guess"
    )
    metadata = read_metadata(written)
    assert metadata.best_guess_min_objectness == 0.3 and metadata.version == "v-guess"
    assert metadata.training["chain"][-1] == {"stage": "best-guess", "command": "cmd"}
    threshold = read_metadata(random_tiny_weights).score_threshold
    with pytest.raises(ValueError, match="between 0 and the weights' score threshold"):
        make_best_guess_weights(random_tiny_weights, tmp_path / "bad", threshold, command="cmd", version="v")
    assert not (tmp_path / "bad").exists()

"""The containment keep rule: features, the learnt decision, its place in the weights and the detector."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from digit_detector.classes import CLASS_NAMES
from digit_detector.containment import GEOMETRY_FEATURES, KeepRule, dropped_box_features, feature_count
from digit_detector.detector import Detector
from digit_detector.models import DEFAULT_ANCHORS
from digit_detector.results import Detection, DetectionResult
from digit_detector.training.keep_rule import Canvas, fit_keep_rule, read_with, whole_objects
from digit_detector.weights import WeightsError, WeightsMetadata, read_metadata

NUM_CLASSES = len(CLASS_NAMES)
NAME_I = GEOMETRY_FEATURES.index("name probability i")


def rule_on_name_probability(min_probability: float = 0.5) -> KeepRule:
    """Keeps a dropped box whose own name probability is above 0.95: one hidden unit, ReLU(100 p - 90),
    minus 5 (0.99 -> sigmoid(4), 0.6 -> sigmoid(-5))."""
    count = feature_count(NUM_CLASSES)
    unit = [0.0] * count
    unit[NAME_I] = 100.0
    return KeepRule(
        mean=(0.0,) * count,
        scale=(1.0,) * count,
        hidden_weights=(tuple(unit),),
        hidden_bias=(-90.0,),
        output_weights=(1.0,),
        output_bias=-5.0,
        min_probability=min_probability,
        num_classes=NUM_CLASSES,
    )


def test_features_describe_a_box_by_its_tightest_holder() -> None:
    boxes = np.array([[0, 0, 100, 100], [10, 10, 30, 90], [0, 0, 60, 120]], np.float64)
    objectness = np.array([0.9, 0.6, 0.5])
    name_probs = np.array([0.95, 0.8, 0.5])
    ids = np.array([9, 1, 11])
    dropped = np.array([False, True, False])
    rows = dropped_box_features(boxes, objectness, name_probs, ids, dropped, 0.5, NUM_CLASSES)
    assert rows.shape == (1, feature_count(NUM_CLASSES))
    row = dict(zip(GEOMETRY_FEATURES, rows[0], strict=False))
    # both larger boxes hold all of it; the first found of the two with the greatest share is its holder
    assert row["share of i inside j"] == pytest.approx(1.0)
    assert row["log area i / j"] == pytest.approx(np.log(20 * 80 / (100 * 100)))
    assert row["objectness j"] == pytest.approx(0.9)
    assert row["centre offset x / width j"] == pytest.approx(0.3)
    assert row["holders of i"] == 2
    assert row["boxes kept"] == 2
    one_hot = rows[0, len(GEOMETRY_FEATURES) :]
    assert one_hot[1] == 1 and one_hot[NUM_CLASSES + 9] == 1 and one_hot.sum() == 2


def test_the_rule_keeps_only_dropped_boxes_it_believes_whole() -> None:
    boxes = np.array([[0, 0, 100, 100], [5, 5, 40, 95], [50, 10, 90, 90]], np.float64)
    keep = rule_on_name_probability().keep(
        boxes,
        objectness=np.array([0.9, 0.9, 0.9]),
        name_probs=np.array([0.99, 0.99, 0.5]),
        class_ids=np.array([8, 1, 0]),
        dropped=np.array([False, True, True]),
        threshold=0.5,
    )
    assert keep.tolist() == [False, True, False]


def test_a_rule_survives_the_weights_record_and_a_broken_one_is_a_weights_error(tmp_path: Path) -> None:
    record = {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}}
    metadata = WeightsMetadata.from_dict({**record, "containment_keep": rule_on_name_probability().to_dict()})
    assert metadata.containment_keep == rule_on_name_probability()
    assert WeightsMetadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata
    broken = rule_on_name_probability().to_dict()
    broken["hidden_weights"][0] = broken["hidden_weights"][0][:-3]
    (tmp_path / "w.json").write_text(json.dumps({**record, "containment_keep": broken}))
    with pytest.raises(WeightsError, match=r"containment_keep.hidden_weights\[0\] has \d+ values, expected"):
        read_metadata(tmp_path / "w.safetensors")


def detection(
    label: int, box: tuple[float, float, float, float], objectness: float, name: float
) -> Detection:
    return Detection(CLASS_NAMES[label], label, objectness * name, box, objectness=objectness)


def test_the_detector_keeps_a_touching_digit_its_rule_believes_and_still_drops_a_part() -> None:
    metadata = WeightsMetadata.from_dict(
        {
            "model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS},
            "containment_threshold": 0.5,
        }
    )
    nine = detection(9, (40, 0, 100, 100), 0.95, 0.99)
    one = detection(1, (36, 5, 52, 95), 0.9, 0.99)  # a thin 1 pressed into the 9's box, named surely
    stem = detection(1, (80, 40, 95, 100), 0.9, 0.6)  # a part of the 9, named unsurely
    detections = [nine, one, stem]
    plain = Detector(backend=None, metadata=metadata)  # type: ignore[arg-type]
    assert plain.contained_mask(detections, 0.5) == [False, True, True]
    learnt = Detector(backend=None, metadata=replace(metadata, containment_keep=rule_on_name_probability()))  # type: ignore[arg-type]
    assert learnt.contained_mask(detections, 0.5) == [False, False, True]
    canvas = Canvas(
        [1, 9],
        np.array([[36, 5, 52, 95], [40, 0, 100, 100]], np.float64),
        DetectionResult(detections, "", (100, 100), 0.0),
    )
    assert read_with(plain, [canvas], None).number_correct == 0
    assert read_with(plain, [canvas], rule_on_name_probability()).number_correct == 1


def test_whole_objects_are_dropped_boxes_matching_an_unclaimed_truth_by_name() -> None:
    truth = np.array([[0, 0, 60, 100], [50, 0, 70, 100]], np.float64)
    detections = [
        detection(8, (0, 0, 60, 100), 0.9, 0.9),  # kept, claims the 8
        detection(1, (50, 0, 70, 100), 0.9, 0.9),  # dropped, the 1 nobody shows: whole
        detection(1, (51, 0, 70, 100), 0.8, 0.9),  # dropped, the same 1 again: a copy
        detection(3, (0, 0, 58, 100), 0.7, 0.9),  # dropped, on the 8 but named 3
    ]
    assert whole_objects(detections, [False, True, True, True], [8, 1], truth) == [False, True, False, False]


def test_the_fit_learns_a_separable_keep_decision() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, feature_count(NUM_CLASSES)))
    y = (x[:, NAME_I] > 0.5).astype(np.float64)
    rule = fit_keep_rule(x, y, NUM_CLASSES)
    predicted = rule.probabilities(x) >= 0.5
    assert (predicted == (y > 0)).mean() > 0.97
    assert fit_keep_rule(x, y, NUM_CLASSES) == rule  # seeded: the same rows give the same rule

"""Choosing the thresholds a model ships with, on validation data (see :func:`choose_thresholds`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from digit_detector.classes import OTHER_ID
from digit_detector.data.yolo_format import Sample
from digit_detector.detector import Detector
from digit_detector.evaluation.predictions import ImagePrediction, match_detections, predict_samples
from digit_detector.evaluation.scoring import read_canvas

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def choose_score_threshold(
    detector: Detector,
    samples: Sequence[Sample],
    *,
    predictions: Sequence[ImagePrediction] | None = None,
    progress: bool = False,
) -> float:
    """The score threshold to ship, chosen on validation data.

    Rule: over the grid 0.05, 0.06, ..., 0.95, keep the thresholds at which no blank canvas has a
    detection (if no threshold achieves that, keep all), then take those with the best F1 of
    correct-class matches (IoU >= 0.5, matching as in the module docstring) and return the median of
    them, i.e. the middle of the best plateau rather than its edge. Uses the detector's NMS mode.
    """
    if predictions is None:
        predictions = predict_samples(detector, samples, progress=progress)
    scores: list[float] = []
    correct: list[bool] = []
    blank_best: list[float] = []
    gt_total = 0
    for prediction in predictions:
        detections = prediction.agnostic if detector.class_agnostic else prediction.per_class
        gt_ids = np.asarray(prediction.sample.class_ids).reshape(-1)
        gt_total += len(gt_ids)
        # Greedy matching visits detections best first, so the matching of the detections above any
        # threshold is a prefix of this one: one pass serves every threshold.
        matching = match_detections(gt_ids, prediction.sample.boxes_xyxy, detections)
        scores += [detector.threshold_value(d) for d in detections]
        correct += [kind == "correct" for kind in matching.outcome]
        if len(gt_ids) == 0:
            blank_best.append(max((detector.threshold_value(d) for d in detections), default=0.0))
    score_array, correct_array = np.asarray(scores), np.asarray(correct, dtype=bool)
    above = score_array[None, :] >= THRESHOLD_GRID[:, None]
    tp = (above & correct_array[None, :]).sum(axis=1)
    f1 = 2 * tp / np.maximum(above.sum(axis=1) + gt_total, 1)
    blank_ok = (np.asarray(blank_best)[None, :] < THRESHOLD_GRID[:, None]).all(axis=1)
    allowed = blank_ok if blank_ok.any() else np.ones_like(blank_ok)
    best = f1[allowed].max()
    chosen = THRESHOLD_GRID[allowed & (f1 >= best - 1e-9)]
    return float(chosen[(len(chosen) - 1) // 2])


#: Containment thresholds tried by :func:`choose_containment_threshold` (None: off), gentlest first.
CONTAINMENT_GRID: tuple[float | None, ...] = (None, 0.9, 0.8, 0.7, 0.6, 0.5)


def choose_containment_threshold(
    detector: Detector,
    samples: Sequence[Sample],
    *,
    predictions: Sequence[ImagePrediction] | None = None,
    progress: bool = False,
) -> float | None:
    """The containment threshold to ship (see ``decode.contained``), chosen on validation data.

    Rule: at the detector's score threshold, the value of :data:`CONTAINMENT_GRID` with the best F1 of
    correct-class matches (IoU >= 0.5, greedy as in the module docstring); ties go to the gentlest
    (off first).
    """
    if predictions is None:
        predictions = predict_samples(detector, samples, progress=progress)
    low_threshold = detector.score_threshold
    best_f1, best_threshold = -1.0, None
    for threshold in CONTAINMENT_GRID:
        correct = detections = ground_truth = 0
        for prediction in predictions:
            low = replace(prediction.result, detections=prediction.agnostic)
            kept = detector.reselect(low, low_threshold, threshold).detections
            gt_ids = np.asarray(prediction.sample.class_ids).reshape(-1)
            matching = match_detections(gt_ids, prediction.sample.boxes_xyxy, kept)
            correct += matching.outcome.count("correct")
            detections += len(kept)
            ground_truth += len(gt_ids)
        f1 = 2 * correct / max(detections + ground_truth, 1)
        if f1 > best_f1 + 1e-9:
            best_f1, best_threshold = f1, threshold
    return best_threshold


#: With a second stage, thresholds whose F1 is within this of the best one count as equally good overall;
#: of those, the pair that reads the most canvases is chosen (:func:`choose_reading_thresholds`).
SHOWN_F1_TOLERANCE = 0.005


def shown_at(
    detector: Detector, predictions: Sequence[ImagePrediction], threshold: float
) -> list[ImagePrediction]:
    """``predictions`` made at a lower threshold, as the app would show them at ``threshold``: detections
    kept by :meth:`Detector.threshold_value` and the number read again. Containment was applied at the
    lower threshold, so this can differ slightly from running at ``threshold``."""
    return [
        replace(prediction, result=detector.reselect(prediction.result, threshold))
        for prediction in predictions
    ]


#: With a second stage, the largest share of `other` drawings the chosen thresholds may take for a digit
#: (the product's limit), where any pair of thresholds keeps to it.
OTHER_TAKEN_LIMIT = 0.05


class _ThresholdPair(NamedTuple):
    """What one pair of thresholds does on validation (see :func:`choose_reading_thresholds`)."""

    objectness: float
    containment_order: int  # index into CONTAINMENT_GRID, gentlest first
    f1: float
    read: int  # canvases read exactly
    allowed: bool  # no blank-canvas detection, `other` taken within the limit


def choose_reading_thresholds(
    detector: Detector, samples: Sequence[Sample], *, progress: bool = False
) -> tuple[float, float | None]:
    """The objectness and containment thresholds of a detector with a second stage, chosen on validation
    data from what the app shows and reads. Every pair of :data:`THRESHOLD_GRID` and
    :data:`CONTAINMENT_GRID` is replayed from one pass: keep the pairs with no blank-canvas detection and at
    most :data:`OTHER_TAKEN_LIMIT` of the `other` drawings taken for a digit (where none does, all), then
    those whose F1 of correct-class matches is within :data:`SHOWN_F1_TOLERANCE` of their best, and of
    those the pair that reads the most canvases exactly (a lone digit named first, a number read digit for
    digit); ties go to the lowest objectness (fewest drawn objects unanswered), then the gentlest
    containment. F1 is flat over a wide range of thresholds where the numbers read are not."""
    chosen_before = detector.score_threshold
    detector.score_threshold = float(THRESHOLD_GRID[0])
    try:
        predictions = predict_samples(detector, samples, progress=progress)
    finally:
        detector.score_threshold = chosen_before
    lowest = float(THRESHOLD_GRID[0])
    candidates = [
        replace(p.result, detections=[d for d in p.agnostic if detector.threshold_value(d) >= lowest])
        for p in predictions
    ]
    truths = [
        (
            [int(c) for c in np.asarray(p.sample.class_ids).reshape(-1)],
            np.asarray(p.sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4),
        )
        for p in predictions
    ]
    other_drawings = sum(ids.count(OTHER_ID) for ids, _ in truths)
    pairs: list[_ThresholdPair] = []
    for order, containment in enumerate(CONTAINMENT_GRID):
        for threshold in THRESHOLD_GRID:
            correct = shown_total = gt_total = read = taken = 0
            blank_ok = True
            for candidate, (gt_ids, gt_boxes) in zip(candidates, truths, strict=True):
                result = detector.reselect(candidate, float(threshold), containment)
                shown = result.detections
                correct += match_detections(gt_ids, gt_boxes, shown).outcome.count("correct")
                shown_total += len(shown)
                gt_total += len(gt_ids)
                blank_ok &= bool(gt_ids) or not shown
                reading = read_canvas(gt_ids, gt_boxes, result)
                read += bool(reading.single_ok) + bool(reading.number_ok)
                taken += reading.other_taken
            allowed = blank_ok and taken <= OTHER_TAKEN_LIMIT * other_drawings
            f1 = 2 * correct / max(shown_total + gt_total, 1)
            pairs.append(_ThresholdPair(float(threshold), order, f1, read, allowed))
    pool = [pair for pair in pairs if pair.allowed] or pairs
    best_f1 = max(pair.f1 for pair in pool)
    plateau = [pair for pair in pool if pair.f1 >= best_f1 - SHOWN_F1_TOLERANCE]
    chosen = max(plateau, key=lambda pair: (pair.read, -pair.objectness, -pair.containment_order))
    return chosen.objectness, CONTAINMENT_GRID[chosen.containment_order]


def choose_thresholds(
    detector: Detector, samples: Sequence[Sample], *, progress: bool = False
) -> tuple[float, float | None]:
    """The thresholds to ship, chosen on ``samples`` (use validation data), set on ``detector`` and
    returned: with a second stage both together from what the app reads
    (:func:`choose_reading_thresholds`); without one the score threshold, then the containment threshold at
    it, from one prediction pass."""
    if detector.namer is not None:
        chosen = choose_reading_thresholds(detector, samples, progress=progress)
        detector.score_threshold, detector.containment_threshold = chosen
        return chosen
    predictions = predict_samples(detector, samples, progress=progress)
    detector.score_threshold = choose_score_threshold(detector, samples, predictions=predictions)
    detector.containment_threshold = choose_containment_threshold(detector, samples, predictions=predictions)
    return detector.score_threshold, detector.containment_threshold

"""Choosing the thresholds a model ships with, on validation data (see :func:`choose_thresholds`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from digit_detector.data.yolo_format import Sample
from digit_detector.detector import Detector
from digit_detector.evaluation.predictions import ImagePrediction, match_detections, predict_samples

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


#: With a second stage, the objectness threshold is the lowest whose F1 is within this of the best one:
#: among thresholds that are equally good overall, the one that leaves the fewest drawn objects unanswered.
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


def choose_shown_threshold(detector: Detector, samples: Sequence[Sample], *, progress: bool = False) -> float:
    """The objectness threshold of a detector with a second stage, chosen on validation data from what the
    app shows (containment on): over the grid, keep the thresholds with no blank-canvas detection, then
    take the lowest whose F1 of correct-class matches is within :data:`SHOWN_F1_TOLERANCE` of the best.
    """
    chosen_before = detector.score_threshold
    detector.score_threshold = float(THRESHOLD_GRID[0])
    try:
        predictions = predict_samples(detector, samples, progress=progress)
    finally:
        detector.score_threshold = chosen_before
    f1 = np.zeros(len(THRESHOLD_GRID))
    blank_ok = np.ones(len(THRESHOLD_GRID), dtype=bool)
    for k, threshold in enumerate(THRESHOLD_GRID):
        correct = shown_total = gt_total = 0
        for prediction in shown_at(detector, predictions, float(threshold)):
            shown = prediction.result.detections
            gt_ids = np.asarray(prediction.sample.class_ids).reshape(-1)
            matching = match_detections(gt_ids, prediction.sample.boxes_xyxy, shown)
            correct += matching.outcome.count("correct")
            shown_total += len(shown)
            gt_total += len(gt_ids)
            if len(gt_ids) == 0 and shown:
                blank_ok[k] = False
        f1[k] = 2 * correct / max(shown_total + gt_total, 1)
    allowed = blank_ok if blank_ok.any() else np.ones_like(blank_ok)
    best = f1[allowed].max()
    return float(THRESHOLD_GRID[allowed & (f1 >= best - SHOWN_F1_TOLERANCE)].min())


def choose_thresholds(
    detector: Detector, samples: Sequence[Sample], *, progress: bool = False
) -> tuple[float, float | None]:
    """Choose the score threshold, then the containment threshold at it, from one prediction pass over
    ``samples`` (use validation data); both are set on ``detector`` and returned. With a second stage the
    objectness threshold is then chosen again on what the app shows (:func:`choose_shown_threshold`)."""
    predictions = predict_samples(detector, samples, progress=progress)
    detector.score_threshold = choose_score_threshold(detector, samples, predictions=predictions)
    detector.containment_threshold = choose_containment_threshold(detector, samples, predictions=predictions)
    if detector.namer is not None:
        detector.score_threshold = choose_shown_threshold(detector, samples, progress=progress)
    return detector.score_threshold, detector.containment_threshold

"""Computing the evaluation report: one :class:`~digit_detector.detector.Detector` pass per image, then
COCO mAP (torchmetrics), matching, reading rates, breakdowns and the worst images. The rules are in
:mod:`digit_detector.evaluation.report`'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from digit_detector.boxes import box_iou
from digit_detector.classes import OTHER_ID, is_digit
from digit_detector.data.yolo_format import Sample
from digit_detector.detector import Detector
from digit_detector.evaluation.breakdown import (
    CanvasReading,
    ReadingCounts,
    SourceCounts,
    count_buckets,
    count_by_source,
)
from digit_detector.evaluation.predictions import (
    MATCH_IOU,
    ImagePrediction,
    match_detections,
    predict_samples,
)
from digit_detector.evaluation.report import (
    WORST_IMAGES,
    EvalReport,
    ImageError,
)
from digit_detector.reading import read_number
from digit_detector.results import DetectionResult


def read_canvas(
    gt_ids: Sequence[int], gt_boxes: NDArray[np.float64], result: DetectionResult
) -> CanvasReading:
    """What the report counts for one canvas's ``result`` against its ground truth (``gt_boxes`` (N, 4))."""
    detections = result.detections
    single_ok = number_ok = None
    if len(gt_ids) == 1 and is_digit(gt_ids[0]):
        single_ok = bool(detections) and detections[0].class_id == gt_ids[0]
    if sum(is_digit(c) for c in gt_ids) >= 2:
        number_ok = result.number == read_number(gt_ids, gt_boxes)
    other_indices = [i for i, c in enumerate(gt_ids) if c == OTHER_ID]
    digit_boxes = [d.box for d in detections if is_digit(d.class_id)]
    taken = 0
    if other_indices and digit_boxes:
        ious = np.nan_to_num(box_iou(gt_boxes[other_indices], np.asarray(digit_boxes, dtype=np.float64)))
        taken = int((ious >= MATCH_IOU).any(axis=1).sum())
    return CanvasReading(single_ok, number_ok, len(other_indices), taken)


def _coco_map(predictions: Sequence[ImagePrediction], agnostic: bool, *, extended: bool) -> dict[str, Any]:
    """torchmetrics' COCO mAP over the low-threshold detections of one NMS mode."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type="bbox", class_metrics=True, extended_summary=extended)
    for prediction in predictions:
        detections = prediction.agnostic if agnostic else prediction.per_class
        metric.update(
            [
                {
                    "boxes": torch.tensor([d.box for d in detections], dtype=torch.float32).reshape(-1, 4),
                    "scores": torch.tensor([d.score for d in detections], dtype=torch.float32),
                    "labels": torch.tensor([d.class_id for d in detections], dtype=torch.int64),
                }
            ],
            [
                {
                    "boxes": torch.as_tensor(prediction.sample.boxes_xyxy, dtype=torch.float32).reshape(
                        -1, 4
                    ),
                    "labels": torch.as_tensor(prediction.sample.class_ids, dtype=torch.int64).reshape(-1),
                }
            ],
        )
    result: dict[str, Any] = metric.compute()
    return result


def _caption(sample: Sample, problems: list[str]) -> str:
    return f"{sample.image_path.stem}: " + "; ".join(problems)


def evaluate(
    detector: Detector,
    samples: list[Sample],
    *,
    progress: bool = True,
    sources: Mapping[Path, Sequence[str | None]] | None = None,
    pens: Mapping[Path, Sequence[float]] | None = None,
    layouts: Mapping[Path, str] | None = None,
) -> EvalReport:
    """Run the detector once per image and compute every number of the ship decision.

    ``sources`` (:func:`~digit_detector.data.yolo_format.digit_sources`) adds the digits' results by
    source to the report; ``pens`` (:func:`~digit_detector.data.yolo_format.object_pen_widths`) the
    recall by pen width; ``layouts`` (:func:`~digit_detector.data.yolo_format.canvas_layouts`) the
    readings by canvas layout.
    """
    predictions = predict_samples(detector, samples, progress=progress)
    return report_from_predictions(detector, predictions, sources=sources, pens=pens, layouts=layouts)


def report_from_predictions(
    detector: Detector,
    predictions: Sequence[ImagePrediction],
    *,
    sources: Mapping[Path, Sequence[str | None]] | None = None,
    pens: Mapping[Path, Sequence[float]] | None = None,
    layouts: Mapping[Path, str] | None = None,
) -> EvalReport:
    """The report for predictions made by :func:`predict_samples` with ``detector``."""
    if not predictions:
        raise ValueError("nothing to evaluate: no images")
    by_source: dict[str, SourceCounts] = {}
    by_layout: dict[str, ReadingCounts] = {}
    names = tuple(detector.class_names)
    background = len(names)
    confusion = np.zeros((background + 1, background + 1), dtype=np.int64)
    gt_counts = np.zeros(background, dtype=np.int64)
    counts = dict.fromkeys(("tp", "fp", "missed", "wrong", "blank", "blank_fp"), 0)
    readings = ReadingCounts()
    errors: list[ImageError] = []
    recall_buckets: dict[str, dict[str, list[int]]] = {}
    for prediction in predictions:
        sample, result = prediction.sample, prediction.result
        gt_ids = [int(c) for c in np.asarray(sample.class_ids).reshape(-1)]
        gt_boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        detections = result.detections
        matching = match_detections(gt_ids, gt_boxes, detections)
        problems: list[str] = []
        severity = 0.0
        for gt_index, det_index in matching.pairs:
            confusion[gt_ids[gt_index], detections[det_index].class_id] += 1
        for gt_index in matching.missed:
            confusion[gt_ids[gt_index], background] += 1
        for det_index in matching.false_positives:
            confusion[background, detections[det_index].class_id] += 1
        for gt_id in gt_ids:
            gt_counts[gt_id] += 1
        wrong = [(g, d) for g, d in matching.pairs if matching.outcome[d] == "wrong_class"]
        counts["tp"] += len(matching.pairs) - len(wrong)
        counts["wrong"] += len(wrong)
        counts["fp"] += len(matching.false_positives)
        counts["missed"] += len(matching.missed)
        if matching.missed:
            missed_names = ",".join(names[gt_ids[g]] for g in matching.missed)
            problems.append(f"missed {missed_names}")
            severity += len(matching.missed)
        if wrong:
            problems.append(
                "read " + ",".join(f"{names[gt_ids[g]]} as {names[detections[d].class_id]}" for g, d in wrong)
            )
            severity += len(wrong)
        if matching.false_positives:
            extra = ",".join(
                f"{names[detections[d].class_id]} {detections[d].score:.2f}" for d in matching.false_positives
            )
            problems.append(f"extra {extra}")
            severity += sum(0.5 + detections[d].score for d in matching.false_positives)

        reading = read_canvas(gt_ids, gt_boxes, result)
        readings.add(reading)
        single_ok, number_ok = reading.single_ok, reading.number_ok
        if single_ok is not None and not single_ok and not problems:
            problems.append(f"top-1 {detections[0].label if detections else 'nothing'}")
            severity += 1
        if number_ok is not None and not number_ok:
            shown = result.number.replace("\n", "/")
            expected = read_number(gt_ids, gt_boxes)
            problems.append(f"number {shown!r} not {expected.replace(chr(10), '/')!r}")
            severity += 1
        if not gt_ids:
            counts["blank"] += 1
            if detections:
                counts["blank_fp"] += 1
                problems.insert(0, "blank canvas")
                severity += 1  # a blank canvas with a detection is the worst kind of mistake
        if reading.other_taken:
            problems.append(f"{reading.other_taken} other taken for a digit")
        pen_widths = pens.get(sample.image_path.resolve()) if pens else None
        count_buckets(recall_buckets, gt_boxes, sample.image_size[1], pen_widths, matching)
        kinds = sources.get(sample.image_path.resolve()) if sources else None
        if kinds is not None:
            count_by_source(by_source, kinds, gt_ids, matching, single_ok, number_ok)
        layout = layouts.get(sample.image_path.resolve()) if layouts else None
        if layout is not None:
            by_layout.setdefault(layout, ReadingCounts()).add(reading)
        if problems:
            errors.append(
                ImageError(
                    sample.image_path,
                    severity,
                    _caption(sample, problems),
                    gt_ids,
                    [(b[0], b[1], b[2], b[3]) for b in gt_boxes.tolist()],
                    list(detections),
                )
            )

    per_class_map = _coco_map(predictions, agnostic=False, extended=True)
    agnostic_map = _coco_map(predictions, agnostic=True, extended=False)
    ap50: dict[str, float | None] = dict.fromkeys(names)
    ap50_95: dict[str, float | None] = dict.fromkeys(names)
    curves: dict[str, NDArray[np.float64]] = {}
    classes = per_class_map.get("classes", torch.zeros(0)).reshape(-1).tolist()
    map_per_class = per_class_map.get("map_per_class", torch.zeros(0)).reshape(-1).tolist()
    precision = np.asarray(
        per_class_map.get("precision", torch.zeros(0)), dtype=np.float64
    )  # (T, R, K, A, M)
    for k, class_id in enumerate(classes):
        if not 0 <= class_id < len(names) or gt_counts[class_id] == 0:
            continue
        name = names[class_id]
        ap50_95[name] = float(map_per_class[k]) if map_per_class[k] >= 0 else None
        curve = precision[0, :, k, 0, -1]
        if (curve >= 0).all():
            curves[name] = curve
            ap50[name] = float(curve.mean())
    errors.sort(key=lambda e: -e.severity)
    ms = [p.result.ms for p in predictions]
    return EvalReport(
        images=len(predictions),
        score_threshold=float(detector.score_threshold),
        iou_threshold=float(detector.iou_threshold),
        class_agnostic=detector.class_agnostic,
        containment_threshold=detector.containment_threshold,
        boxes_fitted_to_ink=detector.fit_to_ink,
        model_version=detector.metadata.version,
        class_names=names,
        map50=_coco_value(per_class_map["map_50"]),
        map50_95=_coco_value(per_class_map["map"]),
        map50_agnostic=_coco_value(agnostic_map["map_50"]),
        map50_95_agnostic=_coco_value(agnostic_map["map"]),
        ap50_per_class=ap50,
        ap50_95_per_class=ap50_95,
        gt_per_class={name: int(gt_counts[i]) for i, name in enumerate(names)},
        confusion_matrix=confusion,
        true_positives=counts["tp"],
        false_positives=counts["fp"],
        missed=counts["missed"],
        wrong_class=counts["wrong"],
        single_digit_images=readings.single_digit_images,
        single_digit_correct=readings.single_digit_correct,
        number_images=readings.number_images,
        number_correct=readings.number_correct,
        blank_images=counts["blank"],
        blank_with_detection=counts["blank_fp"],
        other_boxes=readings.other_drawings,
        other_taken_for_digit=readings.other_taken,
        ms_median=float(np.median(ms)) if ms else 0.0,
        pr_curves=curves,
        worst=errors[:WORST_IMAGES],
        by_source=by_source,
        by_layout=by_layout,
        recall_buckets=recall_buckets,
    )


def _coco_value(value: torch.Tensor) -> float | None:
    """A COCO summary number; -1 (nothing to measure) becomes None."""
    return None if float(value) < 0 else float(value)

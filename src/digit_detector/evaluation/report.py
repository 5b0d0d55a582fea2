"""The evaluation report that decides whether a model ships: what it holds, the ship targets, its JSON and
its summary. :func:`~digit_detector.evaluation.scoring.evaluate` computes it:

It runs the detector once per image (through :class:`~digit_detector.detector.Detector`, the one
inference path) and scores it three ways from that single forward pass:

- at a very low score threshold (:data:`LOW_SCORE_THRESHOLD`) with class-agnostic and with per-class
  NMS: COCO mAP@0.5 and mAP@0.5:0.95 (torchmetrics), per-class AP and precision-recall curves;
- at the detector's own score threshold and NMS mode (what the app shows): confusion matrix,
  precision/recall, single-digit top-1, numbers read exactly, blank canvases with a detection, and
  ``other`` drawings taken for a digit.

Matching (confusion matrix, precision/recall, threshold choice): detections are visited best score
first; each takes the unmatched ground-truth box with IoU >= 0.5 of its own class with the highest IoU,
or, if there is none, the unmatched one of any class with the highest IoU (a wrong-class match). An
unmatched ground-truth box is *missed*, an unmatched detection a *false positive*.

Single-digit top-1: images whose ground truth is one digit box and nothing else; right when the best
detection at the threshold has that class (no detection is wrong). Numbers: images with >= 2 digit
boxes; the detector's ``result.number`` must equal :func:`~digit_detector.reading.read_number` of the
ground truth. ``other`` taken for a digit: a ground-truth ``other`` box that any digit detection at the
threshold overlaps with IoU >= 0.5 (stricter than the confusion matrix, where an ``other`` detection
may claim the box first). Blank canvases: images without ground truth that get any detection.

The ship targets (:data:`TARGETS`) use the per-class-NMS mAP, the usual COCO protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digit_detector.detector import Detection
from digit_detector.evaluation.breakdown import (
    ReadingCounts,
    ReadingRates,
    SourceCounts,
    fmt,
    pct,
    ratio,
    round_or_none,
)

BACKGROUND = "background"
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recall thresholds
WORST_IMAGES = 20  # tiles on the contact sheet (5 x 4)
# recall buckets: object height as a share of the image height, and pen width in px on a 400 px canvas
# name -> (report key, comparison, goal)
TARGETS: dict[str, tuple[str, str, float]] = {
    "mAP@0.5": ("map50", ">=", 0.95),
    "mAP@0.5:0.95": ("map50_95", ">=", 0.72),
    "single-digit top-1": ("single_digit_top1", ">=", 0.97),
    "numbers read exactly": ("number_accuracy", ">=", 0.90),
    "blank canvases with a detection": ("blank_with_detection", "<=", 0),
    "other taken for a digit": ("other_taken_rate", "<=", 0.05),
    "lowest size/pen bucket recall": ("lowest_bucket_recall", ">=", 0.95),
}


# --------------------------------------------------------------------------- the report


@dataclass
class ImageError:
    """One image the model got wrong, for the contact sheet."""

    image_path: Path
    severity: float
    caption: str
    gt_class_ids: list[int]
    gt_boxes: list[tuple[float, float, float, float]]
    detections: list[Detection]


@dataclass
class EvalReport(ReadingRates):
    """All numbers of one evaluation; :meth:`to_dict` is the JSON report, :meth:`summary_lines` the text."""

    images: int
    score_threshold: float
    iou_threshold: float
    class_agnostic: bool
    containment_threshold: float | None
    boxes_fitted_to_ink: bool  # the detector's boxes snapped to the ink they cover (digit_detector.ink)
    model_version: str
    class_names: tuple[str, ...]
    map50: float | None  # per-class NMS (COCO protocol); None: no ground-truth boxes
    map50_95: float | None
    map50_agnostic: float | None  # class-agnostic NMS (what the app runs)
    map50_95_agnostic: float | None
    ap50_per_class: dict[str, float | None]  # None: no ground truth of that class
    ap50_95_per_class: dict[str, float | None]
    gt_per_class: dict[str, int]
    confusion_matrix: NDArray[np.int64]  # (C + 1, C + 1): rows ground truth, columns detections
    true_positives: int
    false_positives: int
    missed: int
    wrong_class: int
    single_digit_images: int
    single_digit_correct: int
    number_images: int
    number_correct: int
    blank_images: int
    blank_with_detection: int
    other_boxes: int
    other_taken_for_digit: int
    ms_median: float
    pr_curves: dict[str, NDArray[np.float64]] = field(default_factory=dict)  # precision at RECALL_POINTS
    worst: list[ImageError] = field(default_factory=list)
    by_source: dict[str, SourceCounts] = field(default_factory=dict)  # digits by source (synthetic data)
    by_layout: dict[str, ReadingCounts] = field(default_factory=dict)  # readings by canvas layout (synthetic)
    # "size" / "pen" -> bucket -> [true boxes, found (any class), named right] at the shipped threshold
    recall_buckets: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    @property
    def detections(self) -> int:
        return self.true_positives + self.wrong_class + self.false_positives

    @property
    def gt_boxes(self) -> int:
        return int(sum(self.gt_per_class.values()))

    @property
    def precision(self) -> float | None:
        return ratio(self.true_positives, self.detections)

    @property
    def recall(self) -> float | None:
        return ratio(self.true_positives, self.gt_boxes)

    @property
    def f1(self) -> float | None:
        return ratio(2 * self.true_positives, self.detections + self.gt_boxes)

    @property
    def lowest_bucket_recall(self) -> float | None:
        """The lowest share of true boxes found (any name) over the size and pen-width buckets."""
        rates = [
            found / total
            for buckets in self.recall_buckets.values()
            for total, found, _ in buckets.values()
            if total
        ]
        return min(rates) if rates else None

    @property
    def other_taken_rate(self) -> float | None:
        return ratio(self.other_taken_for_digit, self.other_boxes)

    def targets(self) -> dict[str, dict[str, Any]]:
        """Each ship target: its value, the goal and whether it passed (None: not measurable here)."""
        checks: dict[str, dict[str, Any]] = {}
        for name, (key, comparison, goal) in TARGETS.items():
            value = getattr(self, key)
            if key == "blank_with_detection" and self.blank_images == 0:
                value = None
            passed = None if value is None else (value >= goal if comparison == ">=" else value <= goal)
            shown = value if isinstance(value, int) else round_or_none(value)
            checks[name] = {"value": shown, "goal": f"{comparison} {goal}", "pass": passed}
        return checks

    @property
    def ships(self) -> bool:
        """True when every target was measured and met."""
        return all(check["pass"] is True for check in self.targets().values())

    def to_dict(self) -> dict[str, Any]:
        """A short, JSON-serialisable summary (curves and images stay out)."""
        return {
            "images": self.images,
            "model_version": self.model_version,
            "score_threshold": self.score_threshold,
            "iou_threshold": self.iou_threshold,
            "nms": "class-agnostic" if self.class_agnostic else "per-class",
            "containment_threshold": self.containment_threshold,
            "boxes": "fitted to the ink" if self.boxes_fitted_to_ink else "as regressed",
            "ships": self.ships,
            "targets": self.targets(),
            "map": {
                "per_class_nms": {
                    "map50": round_or_none(self.map50),
                    "map50_95": round_or_none(self.map50_95),
                },
                "class_agnostic_nms": {
                    "map50": round_or_none(self.map50_agnostic),
                    "map50_95": round_or_none(self.map50_95_agnostic),
                },
            },
            "per_class": {
                name: {
                    "gt": self.gt_per_class[name],
                    "ap50": round_or_none(self.ap50_per_class[name]),
                    "ap50_95": round_or_none(self.ap50_95_per_class[name]),
                }
                for name in self.class_names
            },
            "at_threshold": {
                "precision": round_or_none(self.precision),
                "recall": round_or_none(self.recall),
                "f1": round_or_none(self.f1),
                "correct": self.true_positives,
                "wrong_class": self.wrong_class,
                "false_positives": self.false_positives,
                "missed": self.missed,
            },
            "single_digit": {
                "images": self.single_digit_images,
                "correct": self.single_digit_correct,
                "top1": round_or_none(self.single_digit_top1),
            },
            "numbers": {
                "images": self.number_images,
                "exact": self.number_correct,
                "accuracy": round_or_none(self.number_accuracy),
            },
            "blank": {"images": self.blank_images, "with_detection": self.blank_with_detection},
            "other": {
                "boxes": self.other_boxes,
                "taken_for_digit": self.other_taken_for_digit,
                "rate": round_or_none(self.other_taken_rate),
            },
            "ms_median": round(self.ms_median, 2),
            "confusion_matrix": {
                "labels": [*self.class_names, BACKGROUND],
                "rows": "ground truth",
                "columns": "detections",
                "matrix": self.confusion_matrix.tolist(),
            },
            "worst_images": [{"image": str(e.image_path), "problem": e.caption} for e in self.worst],
            "digits_by_source": {kind: counts.to_dict() for kind, counts in sorted(self.by_source.items())},
            "readings_by_layout": {name: counts.to_dict() for name, counts in sorted(self.by_layout.items())},
            "recall_by_bucket": {
                axis: {
                    bucket: {
                        "boxes": total,
                        "found": round_or_none(ratio(found, total)),
                        "named": round_or_none(ratio(named, total)),
                    }
                    for bucket, (total, found, named) in buckets.items()
                }
                for axis, buckets in self.recall_buckets.items()
            },
        }

    def _layout_lines(self) -> list[str]:
        """The numbers read exactly per canvas layout, as one line (none without layouts)."""
        rows = [
            f"{name} {pct(c.number_accuracy)} of {c.number_images}"
            for name, c in sorted(self.by_layout.items())
            if c.number_images
        ]
        return ["numbers read exactly by layout: " + ", ".join(rows)] if rows else []

    def summary_lines(self) -> list[str]:
        """A dozen lines for the terminal."""
        checks = self.targets()

        def verdict(name: str) -> str:
            check = checks[name]
            mark = {True: "ok", False: "FAIL", None: "not measured"}[check["pass"]]
            return f"[{check['goal']}: {mark}]"

        nms = "class-agnostic" if self.class_agnostic else "per-class"
        per_class = "  ".join(f"{name} {fmt(self.ap50_95_per_class[name])}" for name in self.class_names)
        failed = [name for name, check in checks.items() if check["pass"] is False]
        unmeasured = [name for name, check in checks.items() if check["pass"] is None]
        verdict_line = "SHIPS: yes" if self.ships else "SHIPS: no"
        if failed:
            verdict_line += f" (not met: {', '.join(failed)})"
        if unmeasured:
            verdict_line += f" (not measured on this data: {', '.join(unmeasured)})"
        return [
            f"{self.images} images, model {self.model_version}, score >= {self.score_threshold:g}, "
            f"{nms} NMS (IoU {self.iou_threshold:g}), containment "
            f"{'off' if self.containment_threshold is None else f'> {self.containment_threshold:g}'}, "
            f"boxes {'fitted to the ink' if self.boxes_fitted_to_ink else 'as regressed'}, "
            f"median {self.ms_median:.1f} ms/image",
            f"mAP@0.5       {fmt(self.map50)} {verdict('mAP@0.5')}  (class-agnostic NMS: "
            f"{fmt(self.map50_agnostic)})",
            f"mAP@0.5:0.95  {fmt(self.map50_95)} {verdict('mAP@0.5:0.95')}  (class-agnostic NMS: "
            f"{fmt(self.map50_95_agnostic)})",
            f"AP@0.5:0.95 per class: {per_class}",
            f"single-digit top-1      {pct(self.single_digit_top1)} of {self.single_digit_images} "
            f"{verdict('single-digit top-1')}",
            f"numbers read exactly    {pct(self.number_accuracy)} of {self.number_images} "
            f"{verdict('numbers read exactly')}",
            f"blank canvases with a detection: {self.blank_with_detection} of {self.blank_images} "
            f"{verdict('blank canvases with a detection')}",
            f"other taken for a digit {pct(self.other_taken_rate)} ({self.other_taken_for_digit} of "
            f"{self.other_boxes}) {verdict('other taken for a digit')}",
            f"at score {self.score_threshold:g}: precision {fmt(self.precision)}, "
            f"recall {fmt(self.recall)}, F1 {fmt(self.f1)} ({self.true_positives} correct, "
            f"{self.wrong_class} wrong class, "
            f"{self.false_positives} false positives, {self.missed} missed)",
            *(
                f"digits from {kind}: {pct(ratio(c.correct, c.boxes))} of {c.boxes} named right, "
                f"single-digit top-1 {pct(c.single_digit_top1)} of {c.single_digit_images}, "
                f"numbers (all {kind}) {pct(c.number_accuracy)} of {c.number_images}"
                for kind, c in sorted(self.by_source.items())
            ),
            *self._layout_lines(),
            *(
                f"recall by {axis}: "
                + ", ".join(
                    f"{bucket} {pct(ratio(named, total))} named / {pct(ratio(found, total))} found of {total}"
                    for bucket, (total, found, named) in buckets.items()
                )
                for axis, buckets in self.recall_buckets.items()
            ),
            verdict_line,
        ]

"""The evaluation that decides whether a model ships.

:func:`evaluate` runs the detector once per image (through :class:`~digit_detector.detector.Detector`,
the one inference path) and scores it three ways from that single forward pass:

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

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import OTHER_ID, is_digit
from digit_detector.data.yolo_format import Sample
from digit_detector.decode import contained
from digit_detector.detector import Backend, Detection, DetectionResult, Detector
from digit_detector.reading import read_number

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

LOW_SCORE_THRESHOLD = 0.001
MATCH_IOU = 0.5
BACKGROUND = "background"
RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recall thresholds
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
WORST_IMAGES = 20  # tiles on the contact sheet (5 x 4)
# recall buckets: object height as a share of the image height, and pen width in px on a 400 px canvas
SIZE_BUCKETS: tuple[tuple[str, float], ...] = (("small", 0.15), ("medium", 0.4), ("large", math.inf))
PEN_BUCKETS: tuple[tuple[str, float], ...] = (("thin", 7.0), ("default", 15.0), ("thick", math.inf))

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


# --------------------------------------------------------------------------- running the detector


@dataclass
class ImagePrediction:
    """One image's ground truth and what the detector found in it (boxes in the image's pixels)."""

    sample: Sample
    result: DetectionResult  # at the detector's thresholds and NMS mode: what the app shows
    agnostic: list[Detection]  # score >= LOW_SCORE_THRESHOLD, class-agnostic NMS
    per_class: list[Detection]  # score >= LOW_SCORE_THRESHOLD, per-class NMS


class _RecordingBackend:
    """Runs the real backend and keeps its last output, so it can be re-selected without a rerun."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.last: torch.Tensor | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.last = self.backend(batch)
        return self.last


class _ReplayBackend:
    """Returns the recorder's last output instead of running the model again."""

    def __init__(self, recorder: _RecordingBackend) -> None:
        self.recorder = recorder

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.recorder.last is None:
            raise RuntimeError("no recorded model output to replay")
        return self.recorder.last


def load_image(path: Path) -> Image.Image:
    """Open and fully decode an image."""
    with Image.open(path) as image:
        image.load()
        return image.copy()


def predict_samples(
    detector: Detector, samples: Sequence[Sample], *, progress: bool = True
) -> list[ImagePrediction]:
    """Run the model once per image; select its output as shipped, and at the low threshold both ways."""
    recorder = _RecordingBackend(detector.backend)
    replay = _ReplayBackend(recorder)
    shipped = Detector(
        recorder,
        detector.metadata,
        score_threshold=detector.score_threshold,
        iou_threshold=detector.iou_threshold,
        class_agnostic=detector.class_agnostic,
        namer=detector.namer,
    )
    low = {
        agnostic: Detector(
            replay,
            detector.metadata,
            score_threshold=LOW_SCORE_THRESHOLD,
            iou_threshold=detector.iou_threshold,
            class_agnostic=agnostic,
            namer=detector.namer,
        )
        for agnostic in (True, False)
    }
    shipped.containment_threshold = detector.containment_threshold
    for ranked in low.values():
        ranked.containment_threshold = None  # mAP ranks every candidate; containment is for shown results
    predictions = []
    for sample in tqdm(samples, desc="evaluating", unit="img", disable=not progress):
        image = load_image(sample.image_path)
        result = shipped(image)
        # with a namer, the per-class list holds every named box once per class (multi-label, as ultralytics)
        per_class = low[False](image, all_classes=detector.namer is not None).detections
        predictions.append(ImagePrediction(sample, result, low[True](image).detections, per_class))
    return predictions


# --------------------------------------------------------------------------- matching


@dataclass
class Matching:
    """Greedy IoU matching of one image's detections to its ground truth (see the module docstring)."""

    pairs: list[tuple[int, int]]  # (ground-truth index, detection index)
    missed: list[int]  # ground-truth indices
    false_positives: list[int]  # detection indices
    outcome: list[str]  # per detection: "correct", "wrong_class" or "false_positive"


def match_detections(
    gt_class_ids: NDArray[np.integer] | Sequence[int],
    gt_boxes: NDArray[np.floating],
    detections: Sequence[Detection],
    iou_threshold: float = MATCH_IOU,
) -> Matching:
    """Match detections (best score first) to ground-truth boxes, preferring the same class."""
    gt_ids = np.asarray(gt_class_ids, dtype=np.int64).reshape(-1)
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    det_boxes = np.asarray([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
    ious = np.nan_to_num(box_iou(gt, det_boxes)) if len(gt) and len(det_boxes) else np.zeros((len(gt), 0))
    taken = np.zeros(len(gt), dtype=bool)
    pairs: list[tuple[int, int]] = []
    outcome = ["false_positive"] * len(detections)
    for det_index in sorted(range(len(detections)), key=lambda i: -detections[i].score):
        candidates = (~taken) & (ious[:, det_index] >= iou_threshold) if len(gt) else taken
        if not candidates.any():
            continue
        same = candidates & (gt_ids == detections[det_index].class_id)
        pool = same if same.any() else candidates
        gt_index = int(np.argmax(np.where(pool, ious[:, det_index], -1.0)))
        taken[gt_index] = True
        pairs.append((gt_index, det_index))
        outcome[det_index] = "correct" if same.any() else "wrong_class"
    missed = [int(i) for i in np.flatnonzero(~taken)]
    false_positives = [i for i, kind in enumerate(outcome) if kind == "false_positive"]
    return Matching(pairs, missed, false_positives, outcome)


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


class ReadingRates:
    """Single-digit top-1 and numbers read exactly, from the counts of the dataclasses below."""

    single_digit_images: int
    single_digit_correct: int
    number_images: int
    number_correct: int

    @property
    def single_digit_top1(self) -> float | None:
        return _ratio(self.single_digit_correct, self.single_digit_images)

    @property
    def number_accuracy(self) -> float | None:
        return _ratio(self.number_correct, self.number_images)


@dataclass
class SourceCounts(ReadingRates):
    """How the digits of one source (MNIST, fonts, Hershey) fared at the detector's threshold."""

    boxes: int = 0
    correct: int = 0
    wrong_class: int = 0
    missed: int = 0
    single_digit_images: int = 0
    single_digit_correct: int = 0
    number_images: int = 0  # number canvases whose digits all come from this source
    number_correct: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "boxes": self.boxes,
            "named": _round(_ratio(self.correct, self.boxes)),
            "wrong_class": self.wrong_class,
            "missed": self.missed,
            "single_digit": {"images": self.single_digit_images, "top1": _round(self.single_digit_top1)},
            "numbers": {"images": self.number_images, "accuracy": _round(self.number_accuracy)},
        }


@dataclass
class EvalReport(ReadingRates):
    """All numbers of one evaluation; :meth:`to_dict` is the JSON report, :meth:`summary_lines` the text."""

    images: int
    score_threshold: float
    iou_threshold: float
    class_agnostic: bool
    containment_threshold: float | None
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
        return _ratio(self.true_positives, self.detections)

    @property
    def recall(self) -> float | None:
        return _ratio(self.true_positives, self.gt_boxes)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.true_positives, self.detections + self.gt_boxes)

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
        return _ratio(self.other_taken_for_digit, self.other_boxes)

    def targets(self) -> dict[str, dict[str, Any]]:
        """Each ship target: its value, the goal and whether it passed (None: not measurable here)."""
        checks: dict[str, dict[str, Any]] = {}
        for name, (key, comparison, goal) in TARGETS.items():
            value = getattr(self, key)
            if key == "blank_with_detection" and self.blank_images == 0:
                value = None
            passed = None if value is None else (value >= goal if comparison == ">=" else value <= goal)
            shown = value if isinstance(value, int) else _round(value)
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
            "ships": self.ships,
            "targets": self.targets(),
            "map": {
                "per_class_nms": {"map50": _round(self.map50), "map50_95": _round(self.map50_95)},
                "class_agnostic_nms": {
                    "map50": _round(self.map50_agnostic),
                    "map50_95": _round(self.map50_95_agnostic),
                },
            },
            "per_class": {
                name: {
                    "gt": self.gt_per_class[name],
                    "ap50": _round(self.ap50_per_class[name]),
                    "ap50_95": _round(self.ap50_95_per_class[name]),
                }
                for name in self.class_names
            },
            "at_threshold": {
                "precision": _round(self.precision),
                "recall": _round(self.recall),
                "f1": _round(self.f1),
                "correct": self.true_positives,
                "wrong_class": self.wrong_class,
                "false_positives": self.false_positives,
                "missed": self.missed,
            },
            "single_digit": {
                "images": self.single_digit_images,
                "correct": self.single_digit_correct,
                "top1": _round(self.single_digit_top1),
            },
            "numbers": {
                "images": self.number_images,
                "exact": self.number_correct,
                "accuracy": _round(self.number_accuracy),
            },
            "blank": {"images": self.blank_images, "with_detection": self.blank_with_detection},
            "other": {
                "boxes": self.other_boxes,
                "taken_for_digit": self.other_taken_for_digit,
                "rate": _round(self.other_taken_rate),
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
            "recall_by_bucket": {
                axis: {
                    bucket: {
                        "boxes": total,
                        "found": _round(_ratio(found, total)),
                        "named": _round(_ratio(named, total)),
                    }
                    for bucket, (total, found, named) in buckets.items()
                }
                for axis, buckets in self.recall_buckets.items()
            },
        }

    def summary_lines(self) -> list[str]:
        """A dozen lines for the terminal."""
        checks = self.targets()

        def verdict(name: str) -> str:
            check = checks[name]
            mark = {True: "ok", False: "FAIL", None: "not measured"}[check["pass"]]
            return f"[{check['goal']}: {mark}]"

        nms = "class-agnostic" if self.class_agnostic else "per-class"
        per_class = "  ".join(f"{name} {_fmt(self.ap50_95_per_class[name])}" for name in self.class_names)
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
            f"median {self.ms_median:.1f} ms/image",
            f"mAP@0.5       {_fmt(self.map50)} {verdict('mAP@0.5')}  (class-agnostic NMS: "
            f"{_fmt(self.map50_agnostic)})",
            f"mAP@0.5:0.95  {_fmt(self.map50_95)} {verdict('mAP@0.5:0.95')}  (class-agnostic NMS: "
            f"{_fmt(self.map50_95_agnostic)})",
            f"AP@0.5:0.95 per class: {per_class}",
            f"single-digit top-1      {_pct(self.single_digit_top1)} of {self.single_digit_images} "
            f"{verdict('single-digit top-1')}",
            f"numbers read exactly    {_pct(self.number_accuracy)} of {self.number_images} "
            f"{verdict('numbers read exactly')}",
            f"blank canvases with a detection: {self.blank_with_detection} of {self.blank_images} "
            f"{verdict('blank canvases with a detection')}",
            f"other taken for a digit {_pct(self.other_taken_rate)} ({self.other_taken_for_digit} of "
            f"{self.other_boxes}) {verdict('other taken for a digit')}",
            f"at score {self.score_threshold:g}: precision {_fmt(self.precision)}, "
            f"recall {_fmt(self.recall)}, F1 {_fmt(self.f1)} ({self.true_positives} correct, "
            f"{self.wrong_class} wrong class, "
            f"{self.false_positives} false positives, {self.missed} missed)",
            *(
                f"digits from {kind}: {_pct(_ratio(c.correct, c.boxes))} of {c.boxes} named right, "
                f"single-digit top-1 {_pct(c.single_digit_top1)} of {c.single_digit_images}, "
                f"numbers (all {kind}) {_pct(c.number_accuracy)} of {c.number_images}"
                for kind, c in sorted(self.by_source.items())
            ),
            *(
                f"recall by {axis}: "
                + ", ".join(
                    f"{bucket} {_pct(_ratio(named, total))} named / "
                    f"{_pct(_ratio(found, total))} found of {total}"
                    for bucket, (total, found, named) in buckets.items()
                )
                for axis, buckets in self.recall_buckets.items()
            ),
            verdict_line,
        ]


def _bucket(value: float, buckets: Sequence[tuple[str, float]]) -> str:
    return next(name for name, upper in buckets if value < upper)


def _count_buckets(
    recall_buckets: dict[str, dict[str, list[int]]],
    gt_boxes: NDArray[np.float64],
    image_height: int,
    pens: Sequence[float] | None,
    matching: Matching,
) -> None:
    """Add one image's true boxes to the size (and pen) recall buckets: total, found, named right."""
    outcome = dict.fromkeys(range(len(gt_boxes)), "missed")
    for gt_index, det_index in matching.pairs:
        outcome[gt_index] = matching.outcome[det_index]
    axes: list[tuple[str, Sequence[tuple[str, float]], list[float]]] = [
        ("size", SIZE_BUCKETS, [(b[3] - b[1]) / max(image_height, 1) for b in gt_boxes.tolist()])
    ]
    if pens is not None and len(pens) == len(gt_boxes):
        axes.append(("pen", PEN_BUCKETS, [p * 400.0 / max(image_height, 1) for p in pens]))
    for axis, buckets, values in axes:
        table = recall_buckets.setdefault(axis, {name: [0, 0, 0] for name, _ in buckets})
        for gt_index, value in enumerate(values):
            row = table[_bucket(value, buckets)]
            row[0] += 1
            row[1] += outcome[gt_index] != "missed"
            row[2] += outcome[gt_index] == "correct"


def _count_by_source(
    by_source: dict[str, SourceCounts],
    kinds: Sequence[str | None],
    gt_ids: Sequence[int],
    matching: Matching,
    single_ok: bool | None,
    number_ok: bool | None,
) -> None:
    """Add one image's digit outcomes to the counts of their sources (``kinds``: one per label)."""
    if len(kinds) != len(gt_ids):
        raise ValueError(f"the metadata lists {len(kinds)} objects but the labels have {len(gt_ids)}")
    outcome = dict.fromkeys(range(len(gt_ids)), "missed")
    for gt_index, det_index in matching.pairs:
        outcome[gt_index] = matching.outcome[det_index]
    for gt_index, kind in enumerate(kinds):
        if kind is None:
            continue
        counts = by_source.setdefault(kind, SourceCounts())
        counts.boxes += 1
        counts.correct += outcome[gt_index] == "correct"
        counts.wrong_class += outcome[gt_index] == "wrong_class"
        counts.missed += outcome[gt_index] == "missed"
    digit_kinds = {kind for kind in kinds if kind is not None}
    if single_ok is not None:
        counts = by_source[kinds[0]]  # type: ignore[index]  # a single-digit image's one label is a digit
        counts.single_digit_images += 1
        counts.single_digit_correct += single_ok
    if number_ok is not None and len(digit_kinds) == 1:
        counts = by_source[digit_kinds.pop()]
        counts.number_images += 1
        counts.number_correct += number_ok


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


# --------------------------------------------------------------------------- computing it


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
) -> EvalReport:
    """Run the detector once per image and compute every number of the ship decision.

    ``sources`` (:func:`~digit_detector.data.yolo_format.digit_sources`) adds the digits' results by
    source to the report; ``pens`` (:func:`~digit_detector.data.yolo_format.object_pen_widths`) the
    recall by pen width.
    """
    predictions = predict_samples(detector, samples, progress=progress)
    return report_from_predictions(detector, predictions, sources=sources, pens=pens)


def report_from_predictions(
    detector: Detector,
    predictions: Sequence[ImagePrediction],
    *,
    sources: Mapping[Path, Sequence[str | None]] | None = None,
    pens: Mapping[Path, Sequence[float]] | None = None,
) -> EvalReport:
    """The report for predictions made by :func:`predict_samples` with ``detector``."""
    if not predictions:
        raise ValueError("nothing to evaluate: no images")
    by_source: dict[str, SourceCounts] = {}
    names = tuple(detector.class_names)
    background = len(names)
    confusion = np.zeros((background + 1, background + 1), dtype=np.int64)
    gt_counts = np.zeros(background, dtype=np.int64)
    counts = dict.fromkeys(
        ("tp", "fp", "missed", "wrong", "single", "single_ok", "number", "number_ok", "blank", "blank_fp"), 0
    )
    other_boxes = other_taken = 0
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

        digit_ids = [c for c in gt_ids if is_digit(c)]
        single_ok = number_ok = None
        if len(gt_ids) == 1 and is_digit(gt_ids[0]):
            counts["single"] += 1
            single_ok = bool(detections) and detections[0].class_id == gt_ids[0]
            if single_ok:
                counts["single_ok"] += 1
            elif not problems:
                problems.append(f"top-1 {detections[0].label if detections else 'nothing'}")
                severity += 1
        if len(digit_ids) >= 2:
            counts["number"] += 1
            expected = read_number(gt_ids, gt_boxes)
            number_ok = result.number == expected
            if number_ok:
                counts["number_ok"] += 1
            else:
                shown = result.number.replace("\n", "/")
                problems.append(f"number {shown!r} not {expected.replace(chr(10), '/')!r}")
                severity += 1
        if not gt_ids:
            counts["blank"] += 1
            if detections:
                counts["blank_fp"] += 1
                problems.insert(0, "blank canvas")
                severity += 1  # a blank canvas with a detection is the worst kind of mistake
        other_indices = [i for i, c in enumerate(gt_ids) if c == OTHER_ID]
        digit_dets = [d for d in detections if is_digit(d.class_id)]
        if other_indices and digit_dets:
            ious = np.nan_to_num(box_iou(gt_boxes[other_indices], np.asarray([d.box for d in digit_dets])))
            taken = int((ious >= MATCH_IOU).any(axis=1).sum())
            other_taken += taken
            if taken:
                problems.append(f"{taken} other taken for a digit")
        other_boxes += len(other_indices)
        pen_widths = pens.get(sample.image_path.resolve()) if pens else None
        _count_buckets(recall_buckets, gt_boxes, sample.image_size[1], pen_widths, matching)
        kinds = sources.get(sample.image_path.resolve()) if sources else None
        if kinds is not None:
            _count_by_source(by_source, kinds, gt_ids, matching, single_ok, number_ok)
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
        single_digit_images=counts["single"],
        single_digit_correct=counts["single_ok"],
        number_images=counts["number"],
        number_correct=counts["number_ok"],
        blank_images=counts["blank"],
        blank_with_detection=counts["blank_fp"],
        other_boxes=other_boxes,
        other_taken_for_digit=other_taken,
        ms_median=float(np.median(ms)) if ms else 0.0,
        pr_curves=curves,
        worst=errors[:WORST_IMAGES],
        by_source=by_source,
        recall_buckets=recall_buckets,
    )


def _coco_value(value: torch.Tensor) -> float | None:
    """A COCO summary number; -1 (nothing to measure) becomes None."""
    return None if float(value) < 0 else float(value)


# --------------------------------------------------------------------------- choosing the threshold


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
    shown = [
        (
            prediction,
            [d for d in prediction.agnostic if detector.threshold_value(d) >= detector.score_threshold],
        )
        for prediction in predictions
    ]
    best_f1, best_threshold = -1.0, None
    for threshold in CONTAINMENT_GRID:
        correct = detections = ground_truth = 0
        for prediction, candidates in shown:
            kept = candidates
            if threshold is not None and len(candidates) > 1:
                inside = contained(torch.tensor([d.box for d in candidates]), threshold).tolist()
                kept = [d for d, drop in zip(candidates, inside, strict=True) if not drop]
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
        for prediction in predictions:
            shown = [d for d in prediction.result.detections if detector.threshold_value(d) >= threshold]
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


# --------------------------------------------------------------------------- saving


def _compact_json(data: Any, indent: int = 0) -> str:
    """Indented JSON where flat lists and objects that fit stay on one line (readable matrix and table)."""
    one_line = json.dumps(data)
    flat = not isinstance(data, dict | list) or all(
        not isinstance(v, dict | list) for v in (data.values() if isinstance(data, dict) else data)
    )
    if flat and len(one_line) + indent <= 110:
        return one_line
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(data, dict):
        items = [f"{inner}{json.dumps(k)}: {_compact_json(v, indent + 2)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(data, list):
        return "[\n" + ",\n".join(f"{inner}{_compact_json(v, indent + 2)}" for v in data) + f"\n{pad}]"
    return one_line


def save_report(report: EvalReport, out_dir: Path | str) -> Path:
    """Write report.json, confusion_matrix.png, pr_curves.png and worst_errors.png; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(_compact_json(report.to_dict()) + "\n", encoding="utf-8")
    plot_confusion_matrix(report, out / "confusion_matrix.png")
    plot_pr_curves(report, out / "pr_curves.png")
    contact_sheet(report.worst).save(out / "worst_errors.png")
    return out


def plot_confusion_matrix(report: EvalReport, path: Path) -> None:
    """Counts, coloured by each ground-truth row's share."""
    labels = [*report.class_names, BACKGROUND]
    matrix = report.confusion_matrix
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 7), dpi=100)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(len(labels)):
        for col in range(len(labels)):
            if matrix[row, col]:
                color = "white" if shares[row, col] > 0.6 else "black"
                ax.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("detected")
    ax.set_ylabel("ground truth")
    ax.set_title(f"Confusion matrix at score >= {report.score_threshold:g}, IoU >= {MATCH_IOU}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_pr_curves(report: EvalReport, path: Path) -> None:
    """Per-class precision-recall curves at IoU 0.5 (per-class NMS, COCO interpolation)."""
    fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    cmap = plt.get_cmap("tab10")
    for index, name in enumerate(report.class_names):
        curve = report.pr_curves.get(name)
        if curve is None:
            continue
        style = (
            {"color": cmap(index)}
            if index < 10
            else {"color": "0.3", "linestyle": "--" if index == 10 else ":"}
        )
        ap = report.ap50_per_class[name]
        ax.plot(RECALL_POINTS, curve, label=f"{name} (AP50 {_fmt(ap)})", linewidth=1.5, **style)
    if not report.pr_curves:
        ax.text(0.5, 0.5, "no ground truth boxes", ha="center", va="center")
    else:
        ax.legend(loc="lower left", fontsize=8, ncol=2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall at IoU 0.5 (mAP@0.5 {_fmt(report.map50)})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


TILE = 240
CAPTION_HEIGHT = 44
SHEET_COLUMNS = 5


def _wrap(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line]


def _tile(error: ImageError, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    tile = Image.new("RGB", (TILE, TILE + CAPTION_HEIGHT), "white")
    try:
        image = load_image(error.image_path).convert("RGB")
    except OSError:
        image = Image.new("RGB", (TILE, TILE), "lightgray")
    scale = min(TILE / image.width, TILE / image.height)
    shown = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    tile.paste(shown, (0, 0))
    draw = ImageDraw.Draw(tile)
    for box in error.gt_boxes:
        x1, y1, x2, y2 = (v * scale for v in box)
        draw.rectangle([x1 - 2, y1 - 2, x2 + 2, y2 + 2], outline=(0, 170, 0), width=3)
    for detection in error.detections:
        x1, y1, x2, y2 = (v * scale for v in detection.box)
        draw.rectangle([x1, y1, x2, y2], outline=(220, 0, 0), width=1)
        label = f"{detection.label} {detection.score:.2f}"
        draw.text((x1 + 1, max(0, y1 - 11)), label, fill=(220, 0, 0), font=font)
    lines = _wrap(error.caption, font, TILE - 4)[:3]
    draw.multiline_text((2, TILE + 2), "\n".join(lines), fill="black", font=font, spacing=2)
    draw.rectangle([0, 0, TILE - 1, TILE + CAPTION_HEIGHT - 1], outline=(160, 160, 160))
    return tile


def contact_sheet(errors: Sequence[ImageError]) -> Image.Image:
    """The worst images as a grid: ground truth green, detections red with label and score, a caption."""
    font = ImageFont.load_default(size=11)
    if not errors:
        sheet = Image.new("RGB", (TILE * 2, 60), "white")
        ImageDraw.Draw(sheet).text((10, 20), "no errors at this threshold", fill="black", font=font)
        return sheet
    columns = min(SHEET_COLUMNS, len(errors))
    rows = math.ceil(len(errors) / columns)
    sheet = Image.new("RGB", (columns * TILE, rows * (TILE + CAPTION_HEIGHT)), "white")
    for index, error in enumerate(errors):
        row, col = divmod(index, columns)
        sheet.paste(_tile(error, font), (col * TILE, row * (TILE + CAPTION_HEIGHT)))
    return sheet

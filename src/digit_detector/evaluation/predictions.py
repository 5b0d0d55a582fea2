"""Running the detector over labelled images once and matching its detections to the ground truth.

Matching: detections are visited best score first; each takes the unmatched ground-truth box with
IoU >= 0.5 of its own class with the highest IoU, or, if there is none, the unmatched one of any class with
the highest IoU (a wrong-class match). An unmatched ground-truth box is *missed*, an unmatched detection a
*false positive*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.data.yolo_format import Sample
from digit_detector.detector import Backend, Detection, DetectionResult, Detector
from digit_detector.io import read_image

LOW_SCORE_THRESHOLD = 0.001
MATCH_IOU = 0.5


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
        fit_to_ink=detector.fit_to_ink,
    )
    low = {
        agnostic: Detector(
            replay,
            detector.metadata,
            score_threshold=LOW_SCORE_THRESHOLD,
            iou_threshold=detector.iou_threshold,
            class_agnostic=agnostic,
            namer=detector.namer,
            fit_to_ink=detector.fit_to_ink,
        )
        for agnostic in (True, False)
    }
    shipped.containment_threshold = detector.containment_threshold
    for ranked in low.values():
        ranked.containment_threshold = None  # mAP ranks every candidate; containment is for shown results
    predictions = []
    for sample in tqdm(samples, desc="evaluating", unit="img", disable=not progress):
        image = read_image(sample.image_path)
        result = replace(shipped(image), orig_img=None)  # thousands are kept: not their images too
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

"""How much a learnt check on the *shown* boxes reads: drop those it takes for no whole object.

    .venv/bin/python experiments/learned_drop.py --fit data/fitc:train data/fitc2:train data/fitc3:train \
        --eval data/synth:val data/val2:val [data/synth:test] --cache runs/learned_containment

`number_oracles.py` bounds this lever: dropping every shown box that overlaps no true object by IoU 0.4
reads 1,108 -> 1,123 `data/val2` numbers (v15.2.0). Here a small network learns it from training canvases
(the shipped weights' detections as ``learned_containment.py`` caches them, shown as the weights show them):
each shown box is described by its own scores and shape and by the shown box overlapping it most, and
labelled *non-object* when no true box overlaps it by IoU ``REJECT_IOU``. Each ``--eval`` split is read with
the boxes the network gives at least P dropped, beside the oracle. Not part of the product: a measurement
for the next lever.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from learned_containment import cached
from numpy.typing import NDArray

from digit_detector.boxes import box_iou, inside_share
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas
from digit_detector.results import Detection, DetectionResult
from digit_detector.training.keep_rule import Canvas, fit_network, shown_with

REJECT_IOU = 0.4
MIN_PROBABILITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def features(detections: list[Detection], num_classes: int) -> NDArray[np.float64]:
    """One row per shown box: its scores and shape, and the shown box overlapping it most."""
    boxes = np.array([d.box for d in detections], np.float64).reshape(-1, 4)
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)
    iou = box_iou(boxes, boxes)
    np.fill_diagonal(iou, -1.0)
    inside = inside_share(boxes, boxes)
    digit_heights = [size[k, 1] for k, d in enumerate(detections) if d.class_id < 10]
    row_height = float(np.median(digit_heights)) if digit_heights else 0.0
    rows = []
    for k, d in enumerate(detections):
        objectness = d.objectness or 1e-6
        j = int(iou[k].argmax()) if len(detections) > 1 else k
        other = detections[j]
        rows.append(
            [
                objectness,
                d.score / objectness,
                (d.runner_up_score or 0.0) / objectness,
                math.log(size[k, 0] / size[k, 1]),
                math.log(size[k, 1] / 400.0),
                math.log(size[k, 1] / row_height) if row_height else 0.0,
                float(len(detections)),
                float(len(digit_heights)),
                max(iou[k, j], 0.0) if j != k else 0.0,
                inside[k, j] if j != k else 0.0,
                inside[j, k] if j != k else 0.0,
                (other.objectness or 0.0) if j != k else 0.0,
                *np.eye(num_classes)[d.class_id],
            ]
        )
    return np.array(rows, np.float64).reshape(len(detections), -1)


def shown_boxes(detector: Detector, canvases: list[Canvas]) -> list[DetectionResult]:
    rule = detector.metadata.containment_keep
    return [shown_with(detector, canvas, rule) for canvas in canvases]


def non_objects(detections: list[Detection], truth: NDArray[np.float64]) -> NDArray[np.bool_]:
    if not detections:
        return np.zeros(0, bool)
    if not len(truth):
        return np.ones(len(detections), bool)
    best = box_iou(np.array([d.box for d in detections], np.float64), truth).max(axis=1)
    return np.asarray(best < REJECT_IOU)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fit",
        nargs="+",
        required=True,
        help="DATA:SPLIT (one pass cached as learned_containment.py caches it)",
    )
    parser.add_argument(
        "--eval",
        nargs="+",
        required=True,
        help="DATA:SPLIT (one pass cached as learned_containment.py caches it)",
    )
    parser.add_argument("--cache", type=Path, default=Path("runs/learned_containment"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(None, device="cpu", backend="torch")
    num_classes = len(detector.class_names)

    xs, ys = [], []
    for text in args.fit:
        canvases = cached(detector, text, args.cache)
        for canvas, shown in zip(canvases, shown_boxes(detector, canvases), strict=True):
            if shown.detections:
                xs.append(features(shown.detections, num_classes))
                ys.append(non_objects(shown.detections, canvas.truth))
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.float64)
    print(f"fit: {len(y)} shown boxes, {int(y.sum())} of them no whole object")
    mean, scale, first, second = fit_network(x, y)
    for text in args.eval:
        canvases = cached(detector, text, args.cache)
        shown_all = shown_boxes(detector, canvases)
        probabilities = []
        for shown in shown_all:
            if not shown.detections:
                probabilities.append(np.zeros(0))
                continue
            z = torch.as_tensor((features(shown.detections, num_classes) - mean) / scale, dtype=torch.float64)
            with torch.no_grad():
                probabilities.append(torch.sigmoid(second(torch.relu(first(z))).squeeze(1)).numpy())
        baseline, oracle = ReadingCounts(), ReadingCounts()
        for canvas, shown in zip(canvases, shown_all, strict=True):
            baseline.add(read_canvas(canvas.ids, canvas.truth, shown))
            blank = not len(canvas.truth)  # nothing to match: the oracle keeps what is shown
            wrong = (
                np.zeros(len(shown.detections), bool)
                if blank
                else non_objects(shown.detections, canvas.truth)
            )
            kept = [d for d, w in zip(shown.detections, wrong, strict=True) if not w]
            oracle.add(read_canvas(canvas.ids, canvas.truth, shown.with_detections(kept)))
        print(f"{text}: as shipped {baseline}")
        print(f"{text}: oracle {oracle}")
        for p in MIN_PROBABILITIES:
            counts = ReadingCounts()
            for canvas, shown, probability in zip(canvases, shown_all, probabilities, strict=True):
                kept = [d for d, q in zip(shown.detections, probability, strict=True) if q < p]
                counts.add(read_canvas(canvas.ids, canvas.truth, shown.with_detections(kept)))
            print(f"{text}: drop at p >= {p:g} {counts}")


if __name__ == "__main__":
    main()

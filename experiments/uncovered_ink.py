"""Every clear object gets an answer: a found box under the objectness threshold, shown when most of its ink
is in no shown box (no retraining, no change to the package).

    .venv/bin/python experiments/uncovered_ink.py --data data/val2 --split val \
        --floors 0.2 0.3 --shares 0.5 0.8

Each canvas is read as shipped, and again at the objectness ``--floors`` (the same namer, rules and
containment). A detection of the second reading with objectness from the floor up to the shipped threshold
is added to the shipped ones when at least ``--shares`` of the ink (pixels < 128) in its box lies in no box
already shown, best objectness first. Prints single-digit top-1, numbers read exactly and `other` taken for
a digit for the shipped reading and each floor and share; and for each floor the **oracle**: every such
detection added that matches, at IoU 0.5 and with its name, a true object no shown box matches (the most a
rule that shows detections under the threshold could give).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.breakdown import ReadingCounts
from digit_detector.evaluation.scoring import read_canvas
from digit_detector.ink import DARK_THRESHOLD
from digit_detector.io import read_image
from digit_detector.preprocess import to_rgb
from digit_detector.results import DetectionResult


def box_slices(box: tuple[float, float, float, float]) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    return slice(max(int(y1), 0), int(np.ceil(y2))), slice(max(int(x1), 0), int(np.ceil(x2)))


def with_uncovered(
    shipped: DetectionResult,
    low: DetectionResult,
    ink: NDArray[np.bool_],
    floor: float,
    share: float,
    threshold: float,
) -> DetectionResult:
    """``shipped`` plus the detections of ``low`` from ``floor`` up to ``threshold`` with unanswered ink."""
    shown = list(shipped.detections)
    covered = np.zeros(ink.shape, dtype=bool)
    for detection in shown:
        covered[box_slices(detection.box)] = True
    for detection in low.detections:
        if not floor <= (detection.objectness or 0.0) < threshold:
            continue
        region = box_slices(detection.box)
        inside = ink[region]
        if inside.any() and (inside & ~covered[region]).sum() >= share * inside.sum():
            shown.append(detection)
            covered[region] = True
    shown.sort(key=lambda d: -d.score)
    return shipped.with_detections(shown)


def with_truth(
    shipped: DetectionResult, low: DetectionResult, sample: Sample, floor: float, threshold: float
) -> DetectionResult:
    """``shipped`` plus the detections of ``low`` from ``floor`` up to ``threshold`` that name a true object
    no shown box matches (the truth deciding)."""
    truth = np.asarray(sample.boxes_xyxy, np.float64).reshape(-1, 4)
    ids = [int(c) for c in sample.class_ids]
    shown = list(shipped.detections)
    if not len(truth):
        return shipped
    matched = {
        int(row.argmax())
        for row in box_iou(np.array([d.box for d in shown]).reshape(-1, 4), truth)
        if row.max() >= 0.5
    }
    for detection in low.detections:
        if not floor <= (detection.objectness or 0.0) < threshold:
            continue
        overlap = box_iou(np.array([detection.box]), truth)[0]
        match = int(overlap.argmax())
        if overlap[match] >= 0.5 and ids[match] == detection.class_id and match not in matched:
            shown.append(detection)
            matched.add(match)
    shown.sort(key=lambda d: -d.score)
    return shipped.with_detections(shown)


def tally(cases: list[tuple[Sample, DetectionResult]]) -> ReadingCounts:
    counts = ReadingCounts()
    for sample, result in cases:
        counts.add(read_canvas(sample.class_ids.tolist(), sample.boxes_xyxy, result))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--floors", type=float, nargs="+", default=[0.2, 0.3])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5, 0.8])
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(device="cpu")
    readings = []
    for sample in tqdm(load_split(args.data, args.split).samples, desc="reading"):
        image = read_image(sample.image_path)
        ink = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2GRAY) < DARK_THRESHOLD
        readings.append((sample, ink, detector(image), detector(image, score_threshold=min(args.floors))))
    print("shipped:", tally([(sample, shipped) for sample, _, shipped, _ in readings]))
    for floor in args.floors:
        for share in args.shares:
            cases = [
                (sample, with_uncovered(shipped, low, ink, floor, share, detector.score_threshold))
                for sample, ink, shipped, low in readings
            ]
            print(f"floor {floor}, share {share}:", tally(cases))
        oracle = [
            (sample, with_truth(shipped, low, sample, floor, detector.score_threshold))
            for sample, _, shipped, low in readings
        ]
        print(f"floor {floor}, oracle:", tally(oracle))


if __name__ == "__main__":
    main()

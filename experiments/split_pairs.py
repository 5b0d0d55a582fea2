"""A shown digit box around two touching digits, cut at its ink's narrowest point and named again (no
retraining, no change to the package).

    .venv/bin/python experiments/split_pairs.py --data data/val2 --split val --rules 0.8:0.9 1.0:0.95

First it counts where the digits of misread numbers that no shown box holds at IoU 0.5 lie (on
`data/val2`: 29 of 106 inside one shown box around them and a neighbour). Then every shown digit box is
cut in two across x and across y, each at the column (row) of least ink in its middle 40 %; both halves
are fitted to their ink and named by the shipped namer (the second look and the "one whole object"
output as shipped). A rule ``P:H`` replaces a box named with at most probability P by its two halves when
both are named digits with probability and wholeness at least H and their mean is above the box's own.
Prints top-1, numbers and `other` taken for a digit per rule.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import box_iou, inside_share
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas
from digit_detector.ink import DARK_THRESHOLD, fit_boxes_to_ink
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess_array, to_rgb
from digit_detector.reading import read_number
from digit_detector.results import Detection, DetectionResult
from digit_detector.second_stage import name_probabilities, split_rejection

Box = tuple[float, float, float, float]
# one cut of a shown box: its index, its name's probability, the halves, their names, probabilities, wholeness
Cut = tuple[int, float, NDArray[np.float64], NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]


def halves(ink: NDArray[np.bool_], box: Box) -> list[tuple[Box, Box]]:
    """The box cut across x and across y at the least ink in its middle 40 %."""
    x1, y1, x2, y2 = (round(v) for v in box)
    x1, y1 = max(x1, 0), max(y1, 0)
    region = ink[y1:y2, x1:x2]
    found: list[tuple[Box, Box]] = []
    for axis in (0, 1):
        profile = region.sum(axis=axis)
        low, high = int(0.3 * len(profile)), int(0.7 * len(profile))
        if high <= low + 1:
            continue
        at = low + int(np.argmin(profile[low:high]))
        if axis == 0:
            found.append(((x1, y1, x1 + at, y2), (x1 + at, y1, x2, y2)))
        else:
            found.append(((x1, y1, x2, y1 + at), (x1, y1 + at, x2, y2)))
    return found


def missed_places(sample: Sample, result: DetectionResult) -> Counter[str]:
    """Where the digits of a misread number that no shown box holds at IoU 0.5 lie."""
    ids = [int(c) for c in sample.class_ids]
    truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    places: Counter[str] = Counter()
    if sum(is_digit(c) for c in ids) < 2 or result.number == read_number(ids, truth):
        return places
    shown = np.asarray([d.box for d in result.detections], dtype=np.float64).reshape(-1, 4)
    overlap = box_iou(truth, shown) if len(shown) else np.zeros((len(ids), 0))
    inside = inside_share(truth, shown)  # [true, shown]
    for i, class_id in enumerate(ids):
        if not is_digit(class_id) or (overlap.shape[1] and overlap[i].max() >= 0.5):
            continue
        holder = int(inside[i].argmax()) if overlap.shape[1] else -1
        if holder < 0 or inside[i, holder] < 0.5:
            places["in no shown box"] += 1
        elif overlap[:, holder].max() >= 0.5:
            places["inside a neighbour's box that matches the neighbour"] += 1
        elif any(inside[k, holder] >= 0.5 for k in range(len(ids)) if k != i):
            places["inside one box around it and a neighbour"] += 1
        else:
            places["inside a loose box of its own"] += 1
    return places


def with_splits(
    detector: Detector, result: DetectionResult, cuts: list[Cut], rule: tuple[float, float]
) -> DetectionResult:
    parent_max, half_min = rule
    best: dict[int, tuple[float, Cut]] = {}
    for cut in cuts:
        index, parent, _, ids, probability, whole = cut
        sure = np.minimum(probability, whole)
        if parent > parent_max or not all(is_digit(int(c)) for c in ids) or sure.min() < half_min:
            continue
        if sure.mean() > parent and sure.mean() > best.get(index, (0.0, cut))[0]:
            best[index] = (float(sure.mean()), cut)
    shown = [d for k, d in enumerate(result.detections) if k not in best]
    for index, (_, (_, _, boxes, ids, probability, _)) in best.items():
        objectness = result.detections[index].objectness or 0.0
        for box, class_id, p in zip(boxes.tolist(), ids.tolist(), probability.tolist(), strict=True):
            name = detector.class_names[class_id]
            shown.append(Detection(name, class_id, objectness * p, tuple(box), objectness=objectness))
    shown.sort(key=lambda d: -d.score)
    return result.with_detections(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--rules", nargs="+", default=["0.8:0.9", "0.9:0.9", "1.0:0.95"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(device="cpu")
    assert detector.namer is not None, "the shipped weights name their boxes with a namer"
    classes = len(detector.class_names)
    readings: list[tuple[Sample, DetectionResult, list[Cut]]] = []
    for sample in tqdm(load_split(args.data, args.split).samples, desc="reading"):
        rgb = to_rgb(read_image(sample.image_path))
        gray: NDArray[np.uint8] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint8)
        result = detector(rgb)
        batch, letterbox = preprocess_array(rgb, detector.metadata.model.input_size)
        cuts: list[Cut] = []
        for index, detection in enumerate(result.detections):
            if not is_digit(detection.class_id) or not detection.objectness:
                continue
            for pair in halves(gray < DARK_THRESHOLD, detection.box):
                fitted = fit_boxes_to_ink(gray, np.asarray(pair, dtype=np.float64))
                boxes = torch.as_tensor(letterbox.to_input(fitted), dtype=torch.float32)
                probs, whole = split_rejection(name_probabilities(detector.namer, batch, boxes), classes)
                named = probs.numpy()
                parent = detection.score / detection.objectness
                cuts.append((index, parent, fitted, named.argmax(1), named.max(1), whole.numpy()))
        readings.append((sample, result, cuts))
    places = sum((missed_places(sample, result) for sample, result, _ in readings), Counter())
    print(f"digits misread numbers lose unseen: {sum(places.values())};", dict(places.most_common()))
    for text in ["1.1:1.1", *args.rules]:
        parent_max, half_min = (float(v) for v in text.split(":"))
        counts = ReadingCounts()
        for sample, result, cuts in readings:
            split = with_splits(detector, result, cuts, (parent_max, half_min))
            counts.add(read_canvas(sample.class_ids.tolist(), sample.boxes_xyxy, split))
        label = "as shipped" if text == "1.1:1.1" else f"rule {text}"
        print(f"{label}: {counts}", flush=True)


if __name__ == "__main__":
    main()

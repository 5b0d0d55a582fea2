"""Small objects the shown detections miss: unseen, or dropped by the containment rule, and by which box.

    .venv/bin/python experiments/small_misses.py --data data/synth --split test

For every small true object (under 15 % of the image height, the evaluation's bucket) this checks whether a
detection overlaps it at IoU >= 0.5 as the detector shows them, with containment off, and with containment
off at objectness 0.1. For each one found without containment but not with it, it names the larger box that
holds it: a digit or not, surer than it or not, and how many surer parts that box holds, whether they cover
half of it and whether one of them is not a digit (the conditions of ``digit_detector.decode.contained``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from digit_detector.boxes import box_iou
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.breakdown import SIZE_BUCKETS
from digit_detector.results import Detection

SMALL = SIZE_BUCKETS[0][1]


def found(truth: np.ndarray, detections: list[Detection]) -> np.ndarray:
    if not detections:
        return np.zeros(len(truth), dtype=bool)
    return np.asarray(box_iou(truth, np.array([d.box for d in detections])).max(axis=1) >= 0.5)


def holder(small: Detection, detections: list[Detection]) -> str:
    """Which kind of larger box holds ``small`` (more than half of it), as the containment rule sees it."""
    boxes = np.array([d.box for d in detections], dtype=np.float64)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def inside(i: int, j: int) -> float:
        width = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
        height = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
        return width * height / max(area[i], 1e-9)

    me = detections.index(small)
    holders = [j for j in range(len(detections)) if area[j] > area[me] and inside(me, j) > 0.5]
    if not holders:
        return "no larger box (an equal one, or another rule)"
    j = max(holders, key=lambda k: area[k])
    big = detections[j]
    parts = [
        i
        for i in range(len(detections))
        if area[i] < area[j] and inside(i, j) > 0.5 and detections[i].objectness > big.objectness  # type: ignore[operator]
    ]
    cover = sum(area[i] for i in parts) / area[j]
    kind = "a digit" if is_digit(big.class_id) else big.label
    sure = "less" if big.objectness < small.objectness else "more"  # type: ignore[operator]
    others = any(not is_digit(detections[i].class_id) for i in parts)
    return (
        f"inside {kind} {sure} sure than it; {min(len(parts), 3)} parts surer than that box, "
        f"covering half of it {cover >= 0.5}, one of them not a digit {others}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(device="cpu")
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for sample in load_split(args.data, args.split).samples:
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        small = (truth[:, 3] - truth[:, 1]) / 400.0 < SMALL
        if not small.any():
            continue
        shown = detector(sample.image_path).detections
        everything = detector(sample.image_path, suppress_contained=False).detections
        low = detector(sample.image_path, score_threshold=0.1, suppress_contained=False).detections
        kept, all_found = found(truth, shown), found(truth, everything)
        totals["small"] += int(small.sum())
        totals["shown"] += int((small & kept).sum())
        totals["without containment"] += int((small & all_found).sum())
        totals["without containment, objectness >= 0.1"] += int((small & found(truth, low)).sum())
        overlaps = box_iou(truth, np.array([d.box for d in everything])) if everything else None
        for index in np.flatnonzero(small & all_found & ~kept):
            assert overlaps is not None
            reasons[holder(everything[int(overlaps[index].argmax())], everything)] += 1
    count = totals.pop("small")
    for name, value in totals.items():
        print(f"small objects found, {name}: {value / count:.1%} of {count}")
    print("dropped by containment:")
    for reason, value in reasons.most_common():
        print(f"  {value:4d}  {reason}")


if __name__ == "__main__":
    main()

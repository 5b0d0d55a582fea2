"""What each true object became at the shipped operating point: found and named, named wrong, or boxed
too loosely or too tightly (the nearest detection's IoU), per class; and numbers read exactly per layout.

    .venv/bin/python experiments/miss_anatomy.py --data data/synth --split test

A detection counts for mAP@0.5 and the reading only at IoU >= 0.5, so a digit found with a box of IoU
0.3-0.5 is both a miss and a false positive: those rows are the detector's localisation errors (thin
``1``s above all: a pixel of width changes their IoU a lot), "nothing near" its true misses. A canvas with
two or more digits counts as a number; its layout is the generator's (``meta/<split>.jsonl``).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split, read_meta
from digit_detector.detector import Detector
from digit_detector.reading import read_number

KINDS = ("ok", "wrong name", "IoU 0.3-0.5 same name", "IoU 0.3-0.5 other name", "IoU 0.1-0.3", "nothing near")


def kind_of(ious: torch.Tensor, names: list[int], class_id: int) -> str:
    """The fate of one true object given its IoU with every detection and their class ids."""
    if len(names) == 0 or float(ious.max()) < 0.1:
        return "nothing near"
    best = int(ious.argmax())
    if float(ious[best]) >= 0.5:
        return "ok" if names[best] == class_id else "wrong name"
    if float(ious[best]) >= 0.3:
        return "IoU 0.3-0.5 same name" if names[best] == class_id else "IoU 0.3-0.5 other name"
    return "IoU 0.1-0.3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    layouts = {(args.data / r["image"]).resolve(): r["layout"] for r in read_meta(args.data, args.split)}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    numbers: dict[str, Counter[bool]] = defaultdict(Counter)
    for sample in load_split(args.data, args.split).samples:
        result = detector(str(sample.image_path))
        class_ids = np.asarray(sample.class_ids).reshape(-1).tolist()
        if sum(is_digit(c) for c in class_ids) >= 2:
            layout = layouts.get(sample.image_path.resolve(), "unknown")
            numbers[layout][result.number == read_number(class_ids, np.asarray(sample.boxes_xyxy))] += 1
        truth = torch.tensor(np.asarray(sample.boxes_xyxy), dtype=torch.float32).reshape(-1, 4)
        found = torch.tensor([d.box for d in result.detections], dtype=torch.float32).reshape(-1, 4)
        names = [d.class_id for d in result.detections]
        ious = box_iou(truth, found)
        for row, class_id in enumerate(class_ids):
            counts[detector.class_names[class_id]][kind_of(ious[row], names, class_id)] += 1
    print("| class | " + " | ".join(KINDS) + " |")
    print("| --- |" + " ---: |" * len(KINDS))
    for name in detector.class_names:
        print(f"| {name} | " + " | ".join(str(counts[name][kind]) for kind in KINDS) + " |")
    total = Counter[str]()
    for per_class in counts.values():
        total.update(per_class)
    print("| all | " + " | ".join(str(total[kind]) for kind in KINDS) + " |")
    print("\n| layout | numbers | read exactly |\n| --- | ---: | ---: |")
    for layout, read in sorted(numbers.items()):
        print(f"| {layout} | {read.total()} | {read[True] / read.total():.1%} |")


if __name__ == "__main__":
    main()

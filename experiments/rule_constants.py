"""Do the reading rules' constants, all chosen on the first validation set, hold on another one?

    .venv/bin/python experiments/rule_constants.py --data data/val2 --split val \
        --set GROUP_COVER=0.4,0.6 SURE_NAME=0.7,0.9 NEIGHBOUR_INSIDE=0.85,0.95 NEIGHBOUR_REACH=0.05,0.15 \
        --iou 0.4 0.5 0.55

Reads every canvas of the split with the shipped model once as shipped and once per value of each
constant (``digit_detector.decode``'s containment constants; ``SURE_NAME`` is also the second look's "unsure"
line in ``second_stage``), changed one at a time for the run and put back, and (``--iou``) with the NMS IoU
threshold of the weights (0.45) changed. Prints numbers read exactly, single-digit top-1 and `other` taken
for a digit for each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector import decode, second_stage
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas


def reading(detector: Detector, samples: list[Sample]) -> ReadingCounts:
    """The reading figures of ``samples``, counted as the evaluation report counts them
    (:func:`~digit_detector.evaluation.scoring.read_canvas`)."""
    counts = ReadingCounts()
    for sample in tqdm(samples, desc="canvases", leave=False):
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        counts.add(read_canvas([int(c) for c in sample.class_ids], truth, detector(sample.image_path)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=V1,V2", help="constants to try")
    parser.add_argument("--iou", type=float, nargs="+", default=[], help="NMS IoU thresholds to try")
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = Detector.from_weights(None, device="cpu")
    samples = load_split(args.data, args.split).samples[: args.limit]
    runs: list[tuple[str, str, float | None]] = [("shipped", "", None)]
    for item in args.set:
        name, values = item.split("=")
        if not hasattr(decode, name):
            parser.error(f"digit_detector.decode has no constant {name}")
        runs += [(f"{name}={value}", name, float(value)) for value in values.split(",")]
    runs += [(f"NMS IoU {iou}", "iou_threshold", iou) for iou in args.iou]
    print("| rule constants | numbers read | single-digit top-1 | `other` -> digit |")
    print("| --- | ---: | ---: | ---: |")
    for label, name, value in runs:
        owner = detector if name == "iou_threshold" else decode
        shipped = getattr(owner, name) if name else None
        if name:
            setattr(owner, name, value)
            if name == "SURE_NAME":
                setattr(second_stage, name, value)
        try:
            counts = reading(detector, samples)
        finally:
            if name:
                setattr(owner, name, shipped)
                if name == "SURE_NAME":
                    setattr(second_stage, name, shipped)
        read, numbers = counts.number_correct, counts.number_images
        taken, others = counts.other_taken, counts.other_drawings
        print(
            f"| {label} | {read} / {numbers} ({read / max(numbers, 1):.1%}) | "
            f"{counts.single_digit_correct} / {counts.single_digit_images} | "
            f"{taken} / {others} ({taken / max(others, 1):.1%}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()

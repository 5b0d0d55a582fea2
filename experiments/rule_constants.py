"""Do the reading rules' constants, all chosen on the first validation set, hold on another one?

    .venv/bin/python experiments/rule_constants.py --data data/val2 --split val \
        --set GROUP_COVER=0.4,0.6 SURE_NAME=0.7,0.9 NEIGHBOUR_INSIDE=0.85,0.95 NEIGHBOUR_REACH=0.05,0.15

Reads every canvas of the split with the shipped model once as shipped and once per value of each
constant (``digit_detector.decode``'s containment constants; ``SURE_NAME`` is also the second look's "unsure"
line in ``second_stage``), changed one at a time for the run and put back. Prints numbers read exactly,
single-digit top-1 and `other` taken for a digit for each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector import decode, second_stage
from digit_detector.boxes import box_iou
from digit_detector.classes import OTHER_ID, is_digit
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.reading import read_number


def reading(detector: Detector, samples: list[Sample]) -> tuple[int, int, int, int, int, int]:
    """(numbers, read exactly, single digits, named right, `other` objects, taken for a digit)."""
    numbers = read = single = named = others = taken = 0
    for sample in tqdm(samples, desc="canvases", leave=False):
        ids = [int(c) for c in sample.class_ids]
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        result = detector(sample.image_path)
        if sum(is_digit(c) for c in ids) >= 2:
            numbers += 1
            read += result.number == read_number(ids, truth)
        if len(ids) == 1 and is_digit(ids[0]):
            single += 1
            named += bool(result.detections) and result.detections[0].class_id == ids[0]
        rows = [i for i, c in enumerate(ids) if c == OTHER_ID]
        others += len(rows)
        if rows and result.detections:
            for overlaps in box_iou(truth[rows], np.array([d.box for d in result.detections])):
                best = int(overlaps.argmax())
                taken += bool(overlaps[best] >= 0.5 and is_digit(result.detections[best].class_id))
    return numbers, read, single, named, others, taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=V1,V2", help="constants to try")
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
    print("| rule constants | numbers read | single-digit top-1 | `other` -> digit |")
    print("| --- | ---: | ---: | ---: |")
    for label, name, value in runs:
        shipped = getattr(decode, name) if name else None
        if name:
            setattr(decode, name, value)
            if name == "SURE_NAME":
                setattr(second_stage, name, value)
        try:
            numbers, read, single, named, others, taken = reading(detector, samples)
        finally:
            if name:
                setattr(decode, name, shipped)
                if name == "SURE_NAME":
                    setattr(second_stage, name, shipped)
        print(
            f"| {label} | {read} / {numbers} ({read / max(numbers, 1):.1%}) | {named} / {single} | "
            f"{taken} / {others} ({taken / max(others, 1):.1%}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()

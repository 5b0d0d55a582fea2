"""Letters of a word read as digits: digits in a tight row with `other` boxes of their height made letters.

    .venv/bin/python experiments/word_rows.py --data data/val2:val data/val3:val data/synth:val

The test split's worst canvases show words split into letters with some letters named as digits
(`PIZZA` read `1221`, `yes` read `5`, `COOL` read `0`). A rule ``GAP:RATIO:OVERLAP:SHARE:P`` joins shown
digit and `other` boxes into a row where two are about as tall (within RATIO), overlap vertically by
OVERLAP of the shorter one and lie at most GAP of the taller one's height apart; in a row with an `other`
and at most SHARE digits per `other`, every digit whose name probability is under P becomes an `other`.
Prints numbers read exactly per rule against the shipped reading, with the canvases gained and lost, over
all the splits together (each canvas read once, float32).
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.classes import OTHER_ID, is_digit
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import read_canvas
from digit_detector.io import read_image
from digit_detector.results import Detection, DetectionResult

Box = tuple[float, float, float, float]
Rule = tuple[float, float, float, float, float]  # GAP, RATIO, OVERLAP, SHARE, P (see the docstring)


def in_a_row(a: Box, b: Box, gap: float, ratio: float, overlap: float) -> bool:
    """Whether boxes ``a`` and ``b`` sit side by side as letters of one word do (see the docstring)."""
    height_a, height_b = a[3] - a[1], b[3] - b[1]
    if max(height_a, height_b) > ratio * min(height_a, height_b):
        return False
    if min(a[3], b[3]) - max(a[1], b[1]) < overlap * min(height_a, height_b):
        return False
    left, right = (a, b) if a[0] + a[2] <= b[0] + b[2] else (b, a)
    return right[0] - left[2] <= gap * max(height_a, height_b)


def rows_of(detections: list[Detection], gap: float, ratio: float, overlap: float) -> list[list[int]]:
    """The digit and `other` detections joined into rows (connected by :func:`in_a_row`), as indices."""
    members = [i for i, d in enumerate(detections) if is_digit(d.class_id) or d.class_id == OTHER_ID]
    parent = {i: i for i in members}

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(members, 2):
        if in_a_row(detections[i].box, detections[j].box, gap, ratio, overlap):
            parent[root(i)] = root(j)
    rows: dict[int, list[int]] = {}
    for i in members:
        rows.setdefault(root(i), []).append(i)
    return list(rows.values())


def with_words(result: DetectionResult, rule: Rule) -> DetectionResult:
    """``result`` with the digits of each word-like row named `other` (see the docstring)."""
    gap, ratio, overlap, share, probability = rule
    shown = list(result.detections)
    for row in rows_of(shown, gap, ratio, overlap):
        others = [i for i in row if shown[i].class_id == OTHER_ID]
        digits = [i for i in row if is_digit(shown[i].class_id)]
        if not others or not digits or len(digits) > share * len(others):
            continue
        for i in digits:
            if shown[i].name_probability < probability:
                shown[i] = replace(shown[i], label="other", class_id=OTHER_ID)
    return result.with_detections(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["data/synth:val"], help="ROOT:SPLIT ...")
    parser.add_argument(
        "--rules",
        nargs="+",
        default=[
            "0.35:1.6:0.5:1:1.01",
            "0.2:1.25:0.7:1:1.01",
            "0.15:1.25:0.75:1:1.01",
            "0.2:1.25:0.7:1:0.95",
            "0.2:1.25:0.7:0.5:1.01",
        ],
        help="GAP:RATIO:OVERLAP:SHARE:P",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(device="cpu", precision="float32")
    samples: list[Sample] = []
    for spec in args.data:
        root, split = spec.rsplit(":", 1)
        samples += load_split(Path(root), split).samples
    results = [detector(read_image(s.image_path)) for s in tqdm(samples, unit="img")]
    rules: list[Rule] = []
    for text in args.rules:
        gap, ratio, overlap, share, probability = (float(v) for v in text.split(":"))
        rules.append((gap, ratio, overlap, share, probability))
    readings: list[NDArray[np.int8]] = []
    for rule in [None, *rules]:
        numbers_ok = [
            read_canvas(
                sample.class_ids.tolist(),
                sample.boxes_xyxy,
                result if rule is None else with_words(result, rule),
            ).number_ok
            for sample, result in zip(samples, results, strict=True)
        ]
        readings.append(np.array([-1 if ok is None else int(ok) for ok in numbers_ok], dtype=np.int8))
    base = readings[0]
    print(f"as shipped: {int((base == 1).sum())} of {int((base >= 0).sum())} numbers read exactly")
    for text, candidate in zip(args.rules, readings[1:], strict=True):
        gained = int(((candidate == 1) & (base == 0)).sum())
        lost = int(((candidate == 0) & (base == 1)).sum())
        print(f"rule {text}: {int((candidate == 1).sum())} (+{gained} / -{lost})")


if __name__ == "__main__":
    main()

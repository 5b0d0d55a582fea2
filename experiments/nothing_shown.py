"""Canvases that show nothing: which hold a drawing, and what the detector finds there under its threshold.

    .venv/bin/python experiments/nothing_shown.py --data data/val2 --split val [--weights FILE]

Runs the weights on every canvas of the split; for each that shows nothing (``best_guess_min_objectness``
off, so the shipped reading before package 4.13.0) prints its true objects and its three most likely boxes at
threshold 0.05 (name, objectness, score), then how many held a drawing and how many of those the most likely
box names right. Why 4.13.0 shows the most likely box from objectness 0.3 up (``Detector.best_guess``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image

LOW_THRESHOLD = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shipped = Detector.from_weights(args.weights, device="cpu")
    detector = Detector(
        shipped.backend,
        replace(shipped.metadata, best_guess_min_objectness=None),
        namer=shipped.namer,
        fit_to_ink=shipped.fit_to_ink,
    )
    drawn = right = 0
    for sample in tqdm(load_split(args.data, args.split).samples, desc="canvases"):
        image = read_image(sample.image_path)
        if detector(image).detections:
            continue
        low = detector(image, score_threshold=LOW_THRESHOLD).detections
        truth = [detector.class_names[int(c)] for c in sample.class_ids]
        if truth:
            drawn += 1
            best = max(low, key=detector.threshold_value) if low else None
            right += best is not None and len(truth) == 1 and best.label == truth[0]
        if truth or low:
            found = [(d.label, round(d.objectness or 0.0, 2), round(d.score, 2)) for d in low[:3]]
            tqdm.write(f"{sample.image_path.name}: truth {truth}, found under the threshold {found}")
    print(
        f"{drawn} canvases hold a drawing and show nothing; the most likely box names {right} of them right"
    )


if __name__ == "__main__":
    main()

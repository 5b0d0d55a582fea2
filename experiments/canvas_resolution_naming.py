"""Does the namer lose names to the 192 px model input? True digit boxes named from the model input (as the
pipeline does) and from the canvas at its own resolution, by box size.

    .venv/bin/python experiments/canvas_resolution_naming.py --data data/val3 --split val

The namer cuts its crops from the letterboxed 192 px input, so a digit 25 px tall on the app's 400 px canvas
is about 12 px there before it is sampled up to the crop. The crop (``naming.crop_ink``: ``roi_align`` with
adaptive sampling, each crop divided by its peak) can be cut from the canvas itself just as well; if small
digits were named much better that way, naming from the canvas would be a lever.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess_array, to_array, to_rgb
from digit_detector.second_stage import apply_log_bias, name_probabilities, split_rejection

SIZES = ((0, 30), (30, 45), (45, 70), (70, 120), (120, 10_000))  # the box's longer side, canvas pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights)
    namer = detector.namer
    if namer is None:
        parser.error("these weights have no namer")

    def names(batch: NDArray[np.float32], boxes: NDArray[np.float64]) -> NDArray[np.int64]:
        probs = name_probabilities(namer, batch, boxes.astype(np.float32))
        class_probs, _ = split_rejection(probs, len(detector.class_names))
        return np.asarray(apply_log_bias(class_probs, detector.namer_log_bias)).argmax(axis=1)

    counts = {size: np.zeros(3, dtype=np.int64) for size in SIZES}  # digits, right from input, from canvas
    for sample in tqdm(load_split(args.data, args.split).samples, unit="img", mininterval=10):
        class_ids = np.asarray(sample.class_ids, dtype=np.int64).reshape(-1)
        boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        digits = np.array([is_digit(int(c)) for c in class_ids], dtype=bool)
        if not digits.any():
            continue
        class_ids, boxes = class_ids[digits], boxes[digits]
        rgb = to_rgb(read_image(sample.image_path))
        batch, letterbox = preprocess_array(rgb, detector.metadata.model.input_size)
        from_input = names(batch, letterbox.to_input(boxes)) == class_ids
        from_canvas = names(to_array(rgb)[None], boxes) == class_ids
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        for side, input_right, canvas_right in zip(sides, from_input, from_canvas, strict=True):
            size = next(s for s in SIZES if s[0] <= side < s[1])
            counts[size] += (1, int(input_right), int(canvas_right))
    rows = [
        (f"{low}-{high} px" if high < SIZES[-1][1] else f"{low} px and more", counts[(low, high)])
        for low, high in SIZES
    ]
    rows.append(("all", np.sum([count for _, count in rows], axis=0)))
    print("| box's longer side | digits | named right from the model input | from the canvas |")
    print("| --- | ---: | ---: | ---: |")
    for label, (total, input_right, canvas_right) in rows:
        if total:
            print(
                f"| {label} | {total:,} | {input_right / total:.2%} ({total - input_right} wrong) "
                f"| {canvas_right / total:.2%} ({total - canvas_right} wrong) |"
            )


if __name__ == "__main__":
    main()

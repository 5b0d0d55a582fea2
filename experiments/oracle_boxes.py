"""The reading limit of the second stage: name the *true* boxes of a split with a namer and read them.

    .venv/bin/python experiments/oracle_boxes.py --data data/synth --split test

With perfect boxes, whatever the namer gets wrong is all that is left: this prints the share of true boxes
named right, single-digit top-1 and numbers read exactly when the boxes are the ground truth's and the
names the namer's (default: the shipped one). The shipped detector's own figures sit below these; the
ship targets above them need a better namer, not a better detector.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from digit_detector.bundled import bundled_dir
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.naming import load_namer
from digit_detector.reading import read_number
from digit_detector.training.crop_sets import canvas_crop_set
from digit_detector.training.namer import predict_crop_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--namer", type=Path, default=bundled_dir("weights") / "yolov3-tiny.namer.safetensors"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_split(args.data, args.split).samples
    crops = canvas_crop_set(args.data, args.split)
    model, _ = load_namer(args.namer)
    names = predict_crop_set(model, crops).argmax(dim=1).numpy()
    boxes_of_image: dict[int, list[int]] = defaultdict(list)
    for row, image in enumerate(crops.image_index.tolist()):
        boxes_of_image[image].append(row)
    single = single_right = numbers = numbers_right = 0
    for image, sample in enumerate(samples):
        class_ids = [int(c) for c in np.asarray(sample.class_ids).reshape(-1)]
        named = [int(names[row]) for row in boxes_of_image.get(image, [])]
        if len(class_ids) == 1 and is_digit(class_ids[0]):
            single += 1
            single_right += named == class_ids
        if sum(is_digit(c) for c in class_ids) >= 2:
            boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
            numbers += 1
            numbers_right += read_number(named, boxes) == read_number(class_ids, boxes)
    named_right = float((names == crops.labels.numpy()).mean())
    print(f"{args.split}: {len(crops)} true boxes, {named_right:.2%} named right by {args.namer.name}")
    print(f"single-digit top-1 {single_right}/{single} = {single_right / max(single, 1):.1%}")
    print(f"numbers read exactly {numbers_right}/{numbers} = {numbers_right / max(numbers, 1):.1%}")


if __name__ == "__main__":
    main()

"""How many misread numbers hold a digit shown inside a drawn word or doodle (a letter read as a digit)?

    .venv/bin/python experiments/letters_as_digits.py --data data/val2 --split val

For each canvas whose number is misread (as `eval` counts it, `evaluation.scoring.read_canvas`), the shown
digit boxes that match no drawn digit at IoU 0.5 are the extra ones; an extra one whose centre lies in a
drawn non-digit object's box is counted as a letter (or a doodle's stroke) read as a digit. With
``--list`` each such digit is printed: its canvas, name, the probability of that name and the runner-up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.predictions import MATCH_IOU
from digit_detector.evaluation.scoring import read_canvas
from digit_detector.io import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--list", action="store_true", help="print each digit shown inside a drawn object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights)
    misread = with_letter = extra = extra_in_object = 0
    for sample in tqdm(load_split(args.data, args.split).samples, unit="img"):
        class_ids = [int(c) for c in np.asarray(sample.class_ids).reshape(-1)]
        boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        result = detector(read_image(sample.image_path))
        if read_canvas(class_ids, boxes, result).number_ok is not False:
            continue
        misread += 1
        digits = boxes[[is_digit(c) for c in class_ids]]
        objects = boxes[[not is_digit(c) for c in class_ids]]
        shown_digits = [d for d in result.detections if is_digit(d.class_id)]
        shown = np.asarray([d.box for d in shown_digits], dtype=np.float64)
        if not len(shown):
            continue
        matched = np.nan_to_num(box_iou(shown, digits)).max(axis=1) >= MATCH_IOU
        centres = (shown[~matched, :2] + shown[~matched, 2:]) / 2
        inside = (
            (centres[:, None, 0] >= objects[None, :, 0])
            & (centres[:, None, 0] <= objects[None, :, 2])
            & (centres[:, None, 1] >= objects[None, :, 1])
            & (centres[:, None, 1] <= objects[None, :, 3])
        ).any(axis=1)
        if args.list:
            extras = [d for d, hit in zip(shown_digits, np.asarray(matched).tolist(), strict=True) if not hit]
            for detection, within in zip(extras, np.asarray(inside, dtype=bool).tolist(), strict=True):
                if not within:
                    continue
                print(
                    f"{Path(sample.image_path).name}: {detection.label} at probability "
                    f"{detection.name_probability:.2f}, runner-up {detection.runner_up}"
                )
        extra += len(centres)
        extra_in_object += int(inside.sum())
        with_letter += bool(inside.any())
    print(
        f"{misread} misread numbers, {with_letter} with a digit shown inside a drawn non-digit object; "
        f"{extra} shown digit boxes match no drawn digit, {extra_in_object} of them inside such an object"
    )


if __name__ == "__main__":
    main()

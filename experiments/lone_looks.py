"""More looks at a lone drawing: name the only box shown from several scaled and turned crops, averaged.

    .venv/bin/python experiments/lone_looks.py --data data/val2 --split val

On a canvas that shows one box the namer's cost is one crop, so it can afford many: the box scaled by
``--scales`` and turned by ``--degrees`` (``row_angle.turned_input``), every pair of them, and the answers
averaged. Prints the lone digits read right by the shipped pipeline and with the looks (the lone-digit rule
of the weights applied to both), and the `other` canvases with one shown box that the looks make a digit.

Package 4.14.0 ships the looks this chose over both validation splits (0.85, 1, 1.15 x -10, 0, 10 degrees:
``second_stage.LoneLooks``, weights v15.5.0). The shipped looks turn the canvas itself at its own resolution
and cut the crops as every crop is cut (both backends), where this script turns the crop's axes in the
192 px input; measure the shipped ones with ``python -m digit_detector eval``.
"""

from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from row_angle import turned_input
from tqdm import tqdm

from digit_detector.boxes import scale_xyxy
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.naming import classifiers_of, input_ink
from digit_detector.preprocess import preprocess_array, to_rgb
from digit_detector.second_stage import TorchNamer, apply_log_bias, lone_other_as_digit, split_rejection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--scales", type=float, nargs="+", default=[0.85, 1.0, 1.15])
    parser.add_argument("--degrees", type=float, nargs="+", default=[-10.0, 0.0, 10.0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(None, device="cpu")
    assert isinstance(detector.namer, TorchNamer)
    (classifier,) = classifiers_of(detector.namer.module.namer)
    names = detector.class_names
    looks = list(itertools.product(args.scales, args.degrees))
    shipped = looked = lone = others = others_shipped = others_looked = 0
    for sample in tqdm(load_split(args.data, args.split).samples, desc="canvases"):
        ids = [int(c) for c in sample.class_ids]
        if len(ids) != 1:
            continue
        image = read_image(sample.image_path)
        shown = detector(image).detections
        truth = ids[0]
        renamed = shown
        if len(shown) == 1:
            (only,) = shown
            rgb = to_rgb(image)
            batch, letterbox = preprocess_array(rgb, detector.metadata.model.input_size)
            box = torch.as_tensor(letterbox.to_input(np.asarray([only.box])), dtype=torch.float32)
            boxes = torch.cat([scale_xyxy(box, scale) for scale, _ in looks])
            radians = torch.tensor([math.radians(d) for _, d in looks], dtype=torch.float32)
            with torch.inference_mode():
                ink = input_ink(torch.as_tensor(batch))
                probs = classifier(turned_input(ink, boxes, radians, classifier.config)).softmax(-1)
            names_probs, _ = split_rejection(probs, len(names))
            mean = apply_log_bias(names_probs.mean(0, keepdim=True), detector.namer_log_bias)[0]
            order = mean.argsort(descending=True).tolist()
            objectness = only.objectness or 0.0
            renamed = [
                replace(
                    only,
                    class_id=order[0],
                    label=names[order[0]],
                    score=objectness * float(mean[order[0]]),
                    runner_up=names[order[1]],
                    runner_up_score=objectness * float(mean[order[1]]),
                )
            ]
            renamed = lone_other_as_digit(renamed, names, detector.metadata.lone_digit_min_probability)
        if is_digit(truth):
            lone += 1
            ok_before = len(shown) == 1 and shown[0].class_id == truth
            ok_after = len(renamed) == 1 and renamed[0].class_id == truth
            shipped += ok_before
            looked += ok_after
            if ok_before != ok_after:
                print(
                    f"{sample.image_path.name}: truth {names[truth]} shipped {shown[0].label} "
                    f"looks {renamed[0].label}"
                )
        elif names[truth] == "other":
            others += 1
            others_shipped += any(is_digit(d.class_id) for d in shown)
            others_looked += any(is_digit(d.class_id) for d in renamed)
    print(
        f"lone digits {lone}: shipped {shipped}, with {len(looks)} looks {looked}; "
        f"lone other {others}: taken for a digit shipped {others_shipped}, with looks {others_looked}"
    )


if __name__ == "__main__":
    main()

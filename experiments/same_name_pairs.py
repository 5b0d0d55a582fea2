"""One digit shown twice: two overlapping boxes with the same digit name, the weaker one dropped.

    .venv/bin/python experiments/same_name_pairs.py --data data/synth:val data/val2:val

The blind canvas readers (``canvas_reader_study.py``) read half the test split's extra-digit failures as
a digit shown twice (``691`` read ``6691``, ``1/517`` read ``1/5517``): a second, weaker box on a digit
whose strokes came apart, named as the same digit. A rule ``IOU:P`` drops the lower-scored of two shown
boxes with the same digit name when they overlap by IoU at least IOU and its name probability (score over
objectness) is under P. Prints top-1, numbers and ``other`` taken for a digit per rule and split.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas
from digit_detector.io import read_image
from digit_detector.results import DetectionResult


def without_twins(result: DetectionResult, iou_min: float, probability_max: float) -> DetectionResult:
    """``result`` with the weaker of each overlapping same-name digit pair dropped (see the docstring)."""
    shown = result.detections
    if len(shown) < 2:
        return result
    boxes = np.asarray([d.box for d in shown], dtype=np.float64)
    overlap = box_iou(boxes, boxes)
    dropped = set()
    for i, j in itertools.combinations(range(len(shown)), 2):
        first, second = shown[i], shown[j]
        if first.class_id != second.class_id or not is_digit(first.class_id) or overlap[i, j] < iou_min:
            continue
        weaker = j if first.score >= second.score else i
        if shown[weaker].score / max(shown[weaker].objectness or 0.0, 1e-9) < probability_max:
            dropped.add(weaker)
    return result.with_detections([d for k, d in enumerate(shown) if k not in dropped])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["data/synth:val"], help="ROOT:SPLIT ...")
    parser.add_argument("--rules", nargs="+", default=["0.1:0.6", "0.1:0.8", "0.2:0.6", "0.2:0.8", "0.3:0.8"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(device="cpu")
    rules = [(float(a), float(b)) for a, b in (text.split(":") for text in args.rules)]
    for spec in args.data:
        root, split = spec.rsplit(":", 1)
        samples = load_split(Path(root), split).samples
        results = [detector(read_image(s.image_path)) for s in tqdm(samples, desc=spec)]
        for rule in [None, *rules]:
            counts = ReadingCounts()
            for sample, result in zip(samples, results, strict=True):
                shown = result if rule is None else without_twins(result, *rule)
                counts.add(read_canvas(sample.class_ids.tolist(), sample.boxes_xyxy, shown))
            label = "as shipped" if rule is None else f"rule {rule[0]}:{rule[1]}"
            print(f"{spec} {label}: {counts}", flush=True)


if __name__ == "__main__":
    main()

"""Where the numbers are lost: the reading with one stage of the pipeline replaced by the truth at a time.

    .venv/bin/python experiments/number_oracles.py --data data/synth --split val [--weights FILE]

For every canvas with two or more digits, the detector's boxes (as shown, and before the containment rule)
are matched to the true boxes by IoU, and the number is read again with
- **names from the truth**: every shown box at IoU >= ``MATCH_IOU`` with a true box takes its class (what a
  perfect namer would give the boxes the detector shows);
- **non-objects rejected**: boxes before containment whose best IoU with any true box is under
  ``REJECT_IOU`` dropped (halves of digits, boxes spanning two), then the containment rule as shipped;
- both, and both with the containment rule replaced by one box per true object (its highest objectness),
  which leaves only what the detector does not box at all.

Each line is an upper bound for one lever: a perfect namer, a perfect "is this one whole object" check,
perfect de-duplication.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detection, Detector
from digit_detector.io import read_image
from digit_detector.reading import read_number

MATCH_IOU = 0.5
REJECT_IOU = 0.4


def number_of(detections: list[Detection]) -> str:
    return read_number(
        [d.class_id for d in detections], np.asarray([d.box for d in detections]).reshape(-1, 4)
    )


def best_match(detections: list[Detection], truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each detection's best IoU with a true box and that box's index."""
    if not detections:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    overlap = box_iou(np.asarray([d.box for d in detections], dtype=np.float64), truth)
    return overlap.max(axis=1), overlap.argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    ways = ["as shipped", "names from the truth", "non-objects rejected", "both", "both, one box per object"]
    right = dict.fromkeys(ways, 0)
    numbers = 0
    for sample in tqdm(load_split(args.data, args.split).samples, desc="canvases"):
        ids = [int(c) for c in sample.class_ids]
        if sum(is_digit(c) for c in ids) < 2:
            continue
        numbers += 1
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        expected = read_number(ids, truth)
        image = read_image(sample.image_path)
        shown = detector(image).detections
        right["as shipped"] += number_of(shown) == expected
        overlap, match = best_match(shown, truth)
        named = [
            replace(d, class_id=ids[j]) if o >= MATCH_IOU else d
            for d, o, j in zip(shown, overlap, match, strict=True)
        ]
        right["names from the truth"] += number_of(named) == expected
        every = detector(image, suppress_contained=False).detections
        overlap, match = best_match(every, truth)
        objects = [(d, int(j)) for d, o, j in zip(every, overlap, match, strict=True) if o >= REJECT_IOU]
        containment = detector.containment_threshold
        rejected = detector.drop_contained([d for d, _ in objects], containment)
        right["non-objects rejected"] += number_of(rejected) == expected
        truly_named = [replace(d, class_id=ids[j]) for d, j in objects]
        right["both"] += number_of(detector.drop_contained(truly_named, containment)) == expected
        best: dict[int, Detection] = {}
        for (d, j), renamed in zip(objects, truly_named, strict=True):
            if j not in best or (d.objectness or 0.0) > (best[j].objectness or 0.0):
                best[j] = renamed
        right["both, one box per object"] += number_of(list(best.values())) == expected
    for way in ways:
        print(f"{way:>28}: {right[way]}/{numbers} = {right[way] / max(numbers, 1):.1%} read exactly")


if __name__ == "__main__":
    main()

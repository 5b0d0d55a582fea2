"""What the containment rule costs numbers, and a rule that asks the holding box to explain its ink away.

    .venv/bin/python experiments/containment_headroom.py --data data/val2 --split val --rules 0.9:0.8 0.95:0.9

Both replace the detector's ``contained_mask`` for the run (nothing in the package changes):

- **oracle**: a box the shipped rule drops is kept when it matches, at IoU 0.5 and with its name, a true
  object that no kept box matches (the most a better containment rule could give; an oracle that also
  keeps copies of objects already shown reads fewer numbers, which is what earlier bounds measured);
- **explain away** ``H:P``: a dropped digit named with probability at least P is kept when every box that
  holds it is a digit of another name that still reads as that name, with probability and wholeness at
  least H, from the ink it holds outside the dropped box (a `9` beside a `1` stays a `9` without the `1`;
  a `4` without its stem is no `4`).

Prints numbers read exactly (canvases with two or more digits), single-digit top-1 and `other` taken for a
digit for the shipped rule, the oracle and each rule.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from digit_detector.boxes import inside_share
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas
from digit_detector.ink import DARK_THRESHOLD
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess_array, to_rgb
from digit_detector.results import Detection
from digit_detector.second_stage import name_probabilities, split_rejection
from digit_detector.training.keep_rule import whole_objects

Mask = Callable[[list[Detection], float | None], list[bool]]


def region(box: tuple[float, float, float, float]) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    return slice(max(int(y1), 0), int(np.ceil(y2))), slice(max(int(x1), 0), int(np.ceil(x2)))


def oracle_mask(canvas: dict[str, Any], shipped: Mask) -> Mask:
    def mask(detections: list[Detection], threshold: float | None) -> list[bool]:
        dropped = shipped(detections, threshold)
        whole = whole_objects(detections, dropped, canvas["ids"], canvas["truth"])
        return [drop and not keep for drop, keep in zip(dropped, whole, strict=True)]

    return mask


def explain_away_mask(
    detector: Detector, canvas: dict[str, Any], holder_sure: float, own_sure: float
) -> Mask:
    classes = len(detector.class_names)
    shipped = detector.contained_mask
    namer = detector.namer
    assert namer is not None, "the shipped weights name their boxes with a namer"

    def still_reads(holder: Detection, part: Detection) -> bool:
        rest = np.zeros(canvas["ink"].shape, dtype=bool)
        rest[region(holder.box)] = True
        rest[region(part.box)] = False
        rows, cols = np.nonzero(canvas["ink"] & rest)
        if len(rows) < 10:
            return False
        box = np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], dtype=np.float64)
        boxes = torch.as_tensor(canvas["letterbox"].to_input(box), dtype=torch.float32)
        probs, whole = split_rejection(name_probabilities(namer, canvas["batch"], boxes), classes)
        named = probs[0].numpy()
        return (
            int(named.argmax()) == holder.class_id and min(float(named.max()), float(whole[0])) >= holder_sure
        )

    def mask(detections: list[Detection], threshold: float | None) -> list[bool]:
        dropped = shipped(detections, threshold)
        if not any(dropped) or threshold is None:
            return dropped
        boxes = np.array([d.box for d in detections], dtype=np.float64)
        inside = inside_share(boxes, boxes)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        kept = list(dropped)
        for i, part in enumerate(detections):
            if not dropped[i] or not is_digit(part.class_id) or not part.objectness:
                continue
            if part.score / part.objectness < own_sure:
                continue
            holders = [
                j for j in range(len(detections))
                if j != i and not dropped[j] and inside[i, j] > threshold and area[j] > area[i]
            ]  # fmt: skip
            if holders and all(
                is_digit(detections[j].class_id)
                and detections[j].class_id != part.class_id
                and still_reads(detections[j], part)
                for j in holders
            ):
                kept[i] = False
        return kept

    return mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--rules", nargs="+", default=["0.9:0.8", "0.95:0.9"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(device="cpu")
    samples = load_split(args.data, args.split).samples
    canvas: dict[str, Any] = {}
    shipped: Mask = detector.contained_mask  # bound: the instance attribute set below shadows the method
    masks: list[tuple[str, Mask]] = [("shipped", shipped), ("oracle", oracle_mask(canvas, shipped))]
    for text in args.rules:
        holder_sure, own_sure = (float(v) for v in text.split(":"))
        masks.append((f"explain away {text}", explain_away_mask(detector, canvas, holder_sure, own_sure)))
    try:
        for name, mask in masks:
            detector.contained_mask = mask  # type: ignore[method-assign,assignment]
            counts = ReadingCounts()
            for sample in tqdm(samples, desc=name, leave=False):
                rgb = to_rgb(read_image(sample.image_path))
                canvas["ids"], canvas["truth"] = sample.class_ids.tolist(), sample.boxes_xyxy
                canvas["ink"] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) < DARK_THRESHOLD
                canvas["batch"], canvas["letterbox"] = preprocess_array(
                    rgb, detector.metadata.model.input_size
                )
                counts.add(read_canvas(sample.class_ids.tolist(), sample.boxes_xyxy, detector(rgb)))
            print(f"{name}: {counts}", flush=True)
    finally:
        detector.contained_mask = shipped  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    main()

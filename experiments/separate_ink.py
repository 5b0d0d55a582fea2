"""A digit whose ink is its own is not a part: the containment rule with ink separation (no retraining).

    .venv/bin/python experiments/separate_ink.py --data data/val2 --split val [--limit N]

Most digits of misread numbers that the containment rule drops lie wholly inside a neighbour's box that
the ink fit grew over them (a thin `1` beside a `5` whose regressed box reached it), or inside a box
around two objects. A part of a digit (the stem of a `4` read as a `1`) is ink joined to the rest of that
digit; a neighbour is ink of its own. Here a box named a digit with at least ``--sure`` is spared as a
part when every stroke (8-connected ink) it holds lies at least ``--own`` inside it. The shipped rule and
the variant read every canvas of the split; prints the reading figures of both and the canvases that
flip. A temporary change to the detector's ``contained_mask``: nothing in the package changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import read_canvas
from digit_detector.ink import DARK_THRESHOLD
from digit_detector.io import read_image
from digit_detector.preprocess import to_rgb
from digit_detector.results import Detection


def own_ink(gray: np.ndarray, boxes: np.ndarray, own: float) -> np.ndarray:
    """Per box: does every stroke it holds lie at least ``own`` of its pixels inside it?"""
    _, strokes = cv2.connectedComponents((gray < DARK_THRESHOLD).astype(np.uint8), connectivity=8)
    areas = np.bincount(strokes.ravel())
    flags = np.zeros(len(boxes), dtype=bool)
    for k, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        inside = strokes[max(int(y1), 0) : int(np.ceil(y2)), max(int(x1), 0) : int(np.ceil(x2))]
        ids, counts = np.unique(inside[inside > 0], return_counts=True)
        flags[k] = bool(len(ids)) and bool((counts >= own * areas[ids]).all())
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--sure", type=float, default=0.8)
    parser.add_argument("--own", type=float, default=0.95)
    parser.add_argument(
        "--digit-holders",
        action="store_true",
        help="spare a box only where every box holding it is a digit "
        "of another name (a neighbour's box the ink fit grew over it), not an `other` or a copy",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = Detector.from_weights(None, device="cpu")
    current: dict[str, Any] = {}
    shipped_mask = detector.contained_mask  # bound: the instance attribute set below shadows the method

    def mask_with_own_ink(detections: list[Detection], threshold: float | None) -> list[bool]:
        part = np.array(shipped_mask(detections, threshold), dtype=bool)
        if not part.any():
            return part.tolist()
        boxes = np.array([d.box for d in detections], np.float32)
        ids = np.array([d.class_id for d in detections], dtype=np.int64)
        probs = np.array([d.score / d.objectness if d.objectness else 0.0 for d in detections], np.float32)
        digits = np.array([is_digit(int(i)) for i in ids])
        spared = digits & (probs >= args.sure) & own_ink(current["gray"], boxes, args.own)
        if args.digit_holders:
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
            high = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
            overlap = np.prod(np.maximum(high - low, 0), axis=2) / np.maximum(area[:, None], 1e-9)
            holds = (overlap > threshold) & (area[None, :] > area[:, None])  # [i, j]: j holds i
            unlike = digits[None, :] & (ids[None, :] != ids[:, None])
            spared &= (~holds | unlike).all(axis=1)
        return (part & ~spared).tolist()

    # per rule: numbers, read exactly, single digits, named right, `other` drawings, taken for a digit
    figures = {"shipped": [0, 0, 0, 0, 0, 0], "own ink": [0, 0, 0, 0, 0, 0]}
    flips: list[str] = []
    for sample in tqdm(load_split(args.data, args.split).samples[: args.limit], desc="canvases"):
        image = to_rgb(read_image(sample.image_path))
        current["gray"] = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        ids = [int(c) for c in sample.class_ids]
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        read: dict[str, bool] = {}
        for name, mask in (("shipped", shipped_mask), ("own ink", mask_with_own_ink)):
            detector.contained_mask = mask  # type: ignore[method-assign]
            reading = read_canvas(ids, truth, detector(image))
            row = figures[name]
            if reading.number_ok is not None:
                read[name] = reading.number_ok
                row[0] += 1
                row[1] += reading.number_ok
            if reading.single_ok is not None:
                row[2] += 1
                row[3] += reading.single_ok
            row[4] += reading.other_drawings
            row[5] += reading.other_taken
        if len(set(read.values())) > 1:
            flips.append(f"{Path(sample.image_path).name}: {'gained' if read['own ink'] else 'lost'}")
    for name, (n, ok, single, single_ok, other_count, taken) in figures.items():
        print(
            f"{name:>8}: numbers {ok}/{n} ({ok / max(n, 1):.1%}), single-digit top-1 {single_ok}/{single}, "
            f"other -> digit {taken}/{other_count}"
        )
    print(f"numbers that flip ({len(flips)}):", ", ".join(flips))


if __name__ == "__main__":
    main()

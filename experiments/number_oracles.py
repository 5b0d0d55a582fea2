"""Where the numbers are lost: the reading with one stage of the pipeline replaced by the truth at a time.

    .venv/bin/python experiments/number_oracles.py --data data/synth --split val [--weights F] [--sheet PNG]

For every canvas with two or more digits, the detector's boxes (as shown, and before the containment rule)
are matched to the true boxes by IoU, and the number is read again with
- **names from the truth**: every shown box at IoU >= ``MATCH_IOU`` with a true box takes its class (what a
  perfect namer would give the boxes the detector shows);
- **non-objects rejected**: boxes before containment whose best IoU with any true box is under
  ``REJECT_IOU`` dropped (halves of digits, boxes spanning two), then the containment rule as shipped;
- both, and both with the containment rule replaced by one box per true object (its highest objectness),
  which leaves only what the detector does not box at all; the same from every box down to objectness 0.1
  (``LOW_OBJECTNESS``), which leaves what it does not propose at all;
- **touching digits split**: a shown digit box that holds two or more true digits (half of each inside), one
  of them shown by no box at ``MATCH_IOU``, replaced by those digits' true boxes and names (what a perfect
  splitter of touching digits would give: the pair boxes and the neighbour boxes that swallow a digit).

Each line is an upper bound for one lever: a perfect namer, a perfect "is this one whole object" check,
perfect de-duplication.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from reading_failures import CANVAS_TILE, canvas_tile
from tqdm import tqdm

from digit_detector.boxes import box_iou, inside_share
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detection, Detector
from digit_detector.io import read_image
from digit_detector.reading import read_number
from digit_detector.render import grid

MATCH_IOU = 0.5
REJECT_IOU = 0.4
LOW_OBJECTNESS = 0.1


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


def one_per_object(objects: list[tuple[Detection, int]], ids: list[int]) -> list[Detection]:
    """Of the boxes matched to true objects (box, its true box's index) the surest per object, truly named."""
    best: dict[int, Detection] = {}
    for d, j in objects:
        if j not in best or (d.objectness or 0.0) > (best[j].objectness or 0.0):
            best[j] = replace(d, class_id=ids[j])
    return list(best.values())


def split_touching(shown: list[Detection], ids: list[int], truth: np.ndarray) -> list[Detection]:
    """``shown`` with each digit box that swallows an unshown true digit replaced by the digits it holds."""
    if not shown:
        return shown
    boxes = np.asarray([d.box for d in shown], dtype=np.float64)
    overlap, inside = box_iou(truth, boxes), inside_share(truth, boxes)  # [true, shown]
    unshown = overlap.max(axis=1) < MATCH_IOU
    kept: list[Detection] = []
    added: list[Detection] = []
    for k, detection in enumerate(shown):
        held = [i for i in range(len(ids)) if is_digit(ids[i]) and inside[i, k] >= 0.5]
        if not is_digit(detection.class_id) or len(held) < 2 or not unshown[held].any():
            kept.append(detection)
            continue
        for i in held:
            if unshown[i] or int(overlap[i].argmax()) == k:  # not shown by another box
                x1, y1, x2, y2 = (float(v) for v in truth[i])
                added.append(replace(detection, class_id=ids[i], box=(x1, y1, x2, y2)))
    return kept + added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--sheet", type=Path, default=None, help="draw the canvases the last oracle still misreads here"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    ways = [
        "as shipped",
        "names from the truth",
        "non-objects rejected",
        "both",
        "both, one box per object",
        "both, one box per object, objectness >= 0.1",
        "touching digits split",
    ]
    right = dict.fromkeys(ways, 0)
    numbers = 0
    still_misread: list[Image.Image] = []
    unproposed_canvases = 0
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
        right["touching digits split"] += number_of(split_touching(shown, ids, truth)) == expected
        every = detector(image, suppress_contained=False).detections
        overlap, match = best_match(every, truth)
        objects = [(d, int(j)) for d, o, j in zip(every, overlap, match, strict=True) if o >= REJECT_IOU]
        containment = detector.containment_threshold
        rejected = detector.drop_contained([d for d, _ in objects], containment)
        right["non-objects rejected"] += number_of(rejected) == expected
        truly_named = [replace(d, class_id=ids[j]) for d, j in objects]
        right["both"] += number_of(detector.drop_contained(truly_named, containment)) == expected
        right["both, one box per object"] += number_of(one_per_object(objects, ids)) == expected
        low = detector(image, score_threshold=LOW_OBJECTNESS, suppress_contained=False).detections
        overlap, match = best_match(low, truth)
        objects = [(d, int(j)) for d, o, j in zip(low, overlap, match, strict=True) if o >= REJECT_IOU]
        lowest = one_per_object(objects, ids)
        right["both, one box per object, objectness >= 0.1"] += number_of(lowest) == expected
        if number_of(lowest) != expected:
            proposed = {j for _, j in objects}
            unproposed = [i for i in range(len(ids)) if is_digit(ids[i]) and i not in proposed]
            still_misread.append(canvas_tile(image, shown, expected, number_of(shown), truth[unproposed]))
            unproposed_canvases += bool(unproposed)
    for way in ways:
        print(f"{way:>44}: {right[way]}/{numbers} = {right[way] / max(numbers, 1):.1%} read exactly")
    print(
        f"misread by the last oracle: {len(still_misread)}, {unproposed_canvases} with a digit never proposed"
    )
    if args.sheet and still_misread:
        grid(still_misread, 6, tile_size=CANVAS_TILE).save(args.sheet)
        print(f"drawn in {args.sheet} (blue: the true digits no box proposes)")


if __name__ == "__main__":
    main()

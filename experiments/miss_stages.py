"""Where in the pipeline each missed digit of a number is lost, and what lies around it.

    .venv/bin/python experiments/miss_stages.py --data data/val3 --split val [--sheet PNG] [--limit N]

For every canvas with two or more digits, each true digit that no shown box matches (IoU >= ``MATCH_IOU``)
is followed through the pipeline the app runs, stage by stage, with the shipped weights' thresholds:

1. **not proposed**: no box of the detector's output reaches the objectness threshold at IoU >= 0.5 (split
   by the best objectness a box at that IoU has: under 0.05, under 0.2, under the threshold);
2. **suppressed by NMS**: proposed, but no box at IoU >= 0.5 survives non-maximum suppression;
3. **moved by the ink fit**: it survives NMS, but fitted to the ink the box no longer matches;
4. **rejected by the namer**: its objectness times the namer's "one whole object" falls under the
   threshold;
5. **dropped by containment or the reading rules**: named and over the threshold, but not shown.

Each missed digit is also counted by what lies around it in the truth: cut by the canvas edge (under 80 %
visible), under a word or doodle (a tenth of it inside one's box), on another digit (a quarter either way),
touching one (the boxes meet), small (under ``SMALL`` px tall), or none of these. ``--sheet`` draws the
canvases of up to ``SHEET_PER_STAGE`` missed digits per stage, a row each: shown boxes red, the missed digit
blue, captioned with what was drawn and what was read.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from reading_failures import CANVAS_TILE, canvas_tile
from tqdm import tqdm

from digit_detector.boxes import box_iou, inside_share
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import boxed_objects, load_split
from digit_detector.detector import Detector
from digit_detector.ink import fit_boxes_to_ink
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess_array, to_rgb
from digit_detector.reading import read_number
from digit_detector.render import grid
from digit_detector.second_stage import name_probabilities, split_rejection

MATCH_IOU = 0.5
CUT_VISIBLE = 0.8
UNDER_OBJECT = 0.1
ON_DIGIT = 0.25
SMALL = 25.0  # px on the 400 px canvas
SHEET_PER_STAGE = 8
SHEET_TILE = 210  # px a canvas takes on the sheet
STAGES = (
    "not proposed at all (< 0.05)",
    "not proposed (0.05-0.2)",
    "not proposed (0.2 to the threshold)",
    "suppressed by NMS",
    "moved by the ink fit",
    "rejected by the namer",
    "dropped by containment or the reading rules",
)


def as_numpy(value: Any) -> NDArray[Any]:
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def matches(box: NDArray[np.float64], boxes: NDArray[np.float64]) -> bool:
    return bool(len(boxes)) and float(box_iou(box[None], boxes).max()) >= MATCH_IOU


def surroundings(
    k: int, truth: NDArray[np.float64], ids: NDArray[np.int64], share: NDArray[np.float64], visible: float
) -> str:
    """What lies around true object ``k`` (``share``: ``inside_share(truth, truth)``), the first kind that
    applies."""
    others = [j for j in range(len(truth)) if j != k]
    if visible < CUT_VISIBLE:
        return "cut by the edge"
    if any(not is_digit(int(ids[j])) and share[k, j] > UNDER_OBJECT for j in others):
        return "under a word or doodle"
    if any(is_digit(int(ids[j])) and max(share[k, j], share[j, k]) > ON_DIGIT for j in others):
        return "on another digit"
    if any(is_digit(int(ids[j])) and share[k, j] > 0 for j in others):
        return "touching a digit"
    if truth[k, 3] - truth[k, 1] < SMALL:
        return "small"
    return "none of these"


def stage_lost(detector: Detector, image: Image.Image, box: NDArray[np.float64]) -> str:
    """The first pipeline stage after which no box matches ``box`` (the digit is known not to be shown)."""
    rgb = to_rgb(image)
    batch, letterbox = preprocess_array(rgb, detector.metadata.model.input_size)
    decoded = detector.decode_batch([image])
    rows = as_numpy(decoded[0]).astype(np.float64)
    candidates = letterbox.to_original(rows[:, :4])
    overlap = box_iou(box[None], candidates)[0] if len(candidates) else np.zeros(0)
    best = float(rows[overlap >= MATCH_IOU, 4].max()) if (overlap >= MATCH_IOU).any() else 0.0
    if best < detector.score_threshold:
        return STAGES[0] if best < 0.05 else STAGES[1] if best < 0.2 else STAGES[2]
    found = detector.select_boxes(decoded, None, None)[0]
    kept = letterbox.to_original(as_numpy(found.boxes).astype(np.float64))
    if not matches(box, kept):
        return STAGES[3]
    fitted = fit_boxes_to_ink(rgb, kept) if detector.fit_to_ink else kept
    if not matches(box, fitted):
        return STAGES[4]
    index = int(box_iou(box[None], fitted)[0].argmax())
    assert detector.namer is not None
    input_box = torch.as_tensor(letterbox.to_input(fitted[index : index + 1]), dtype=torch.float32)
    _, whole = split_rejection(
        name_probabilities(detector.namer, batch, input_box), len(detector.class_names)
    )
    if float(as_numpy(found.objectness)[index]) * float(as_numpy(whole)[0]) < detector.score_threshold:
        return STAGES[5]
    return STAGES[6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--sheet", type=Path, default=None, help="draw canvases of each stage's misses here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    assert detector.namer is not None, "these weights name no second stage"
    objects = boxed_objects(args.data, args.split)
    digits = 0
    table: Counter[tuple[str, str]] = Counter()
    tiles: dict[str, list[Image.Image]] = {stage: [] for stage in STAGES}
    for sample in tqdm(load_split(args.data, args.split).samples[: args.limit], unit="img", mininterval=10):
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        ids = np.asarray(sample.class_ids, dtype=np.int64).reshape(-1)
        digit_rows = [k for k, class_id in enumerate(ids) if is_digit(int(class_id))]
        if len(digit_rows) < 2:
            continue
        digits += len(digit_rows)
        image = read_image(sample.image_path)
        result = detector(image)
        shown = np.asarray([d.box for d in result.detections], dtype=np.float64).reshape(-1, 4)
        metas = objects.get(Path(sample.image_path).resolve(), [])
        share = inside_share(truth, truth)
        for k in digit_rows:
            if matches(truth[k], shown):
                continue
            stage = stage_lost(detector, image, truth[k])
            visible = float(metas[k].get("visible", 1.0)) if metas else 1.0
            table[(stage, surroundings(k, truth, ids, share, visible))] += 1
            if args.sheet is not None and len(tiles[stage]) < SHEET_PER_STAGE:
                canvas = Image.open(sample.image_path)
                expected = read_number([int(i) for i in ids], truth)
                tiles[stage].append(
                    canvas_tile(canvas, result.detections, expected, result.number, truth[k : k + 1])
                )
    kinds = sorted({kind for _, kind in table}, key=lambda kind: -sum(table[(s, kind)] for s in STAGES))
    missed = sum(table.values())
    print(f"digits of canvases with 2+ digits: {digits}; not shown at IoU >= {MATCH_IOU}: {missed}")
    print("| stage lost | missed | " + " | ".join(kinds) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in kinds) + " |")
    for stage in STAGES:
        row = [table[(stage, kind)] for kind in kinds]
        print(f"| {stage} | {sum(row)} | " + " | ".join(str(count) for count in row) + " |")
    if args.sheet is not None:
        blank = Image.new("RGB", (CANVAS_TILE, CANVAS_TILE), (200, 200, 200))
        drawn = [
            tile for stage in STAGES for tile in (tiles[stage] + [blank] * SHEET_PER_STAGE)[:SHEET_PER_STAGE]
        ]
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        grid(drawn, columns=SHEET_PER_STAGE, tile_size=SHEET_TILE).quantize(colors=32).save(args.sheet)
        print(f"drawn in {args.sheet}: up to {SHEET_PER_STAGE} per stage, a row each, in the table's order")


if __name__ == "__main__":
    main()

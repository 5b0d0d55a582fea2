"""Name the digits of a sloping number from crops turned upright along the number's line.

    .venv/bin/python experiments/row_angle.py --data data/synth --split val [--weights FILE]

The canvas augmentation turns a quarter of the canvases by up to 30 degrees, the numbers on them with it,
and a `1` with a long flag turned 20-30 degrees reads as a `7` (``data synth --rotate-large 15``: the same
canvases turned at most 15 degrees read 1.2-1.9 points more numbers). A number's line tells how far it was
turned: the centres of its digits lie on it. So each line of two or more shown digits (the reading's own
``group_lines``) gives an angle, the least-squares slope of its centres, and each of its boxes is named
again from a crop whose axes follow that line (sampled finely and averaged, as ``roi_align`` does; the box
window is the box's own pixels seen in the turned crop). Ways of using the new answers are compared, each
with lines turned at least ``--min-angles`` degrees: the turned crop's answer alone, and averaged with the
upright one. Only names change; boxes and what is shown stay as shipped.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detection, Detector
from digit_detector.io import read_image
from digit_detector.naming import MIN_WINDOW, NamerConfig, classifiers_of, input_ink
from digit_detector.preprocess import preprocess_array, to_rgb
from digit_detector.reading import group_lines, read_number
from digit_detector.second_stage import TorchNamer, apply_log_bias, name_probabilities, split_rejection

SUPERSAMPLE = 8  # samples per crop pixel along each axis, averaged (roi_align averages a bin's samples)


def turned_input(
    ink: torch.Tensor, boxes: torch.Tensor, angles: torch.Tensor, config: NamerConfig
) -> torch.Tensor:
    """What a classifier of ``config`` sees of ``boxes`` (K, 4) in ``ink`` (1, 1, S, S) with each crop's
    axes turned by ``angles`` (K,) radians (image y down: a line rising to the right has a negative angle)."""
    size, k = config.crop_size, SUPERSAMPLE
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).amax(dim=1).clamp(min=1.0) * (1 + 2 * config.margin)
    steps = (torch.arange(size * k, dtype=ink.dtype) + 0.5) / (size * k) * 2 - 1  # fine sample centres
    v, u = torch.meshgrid(steps, steps, indexing="ij")
    cos, sin = angles.cos()[:, None, None], angles.sin()[:, None, None]
    half = side[:, None, None] / 2
    x = centre[:, 0, None, None] + half * (cos * u - sin * v)
    y = centre[:, 1, None, None] + half * (sin * u + cos * v)
    extent = ink.shape[-1]
    grid = torch.stack((x / extent * 2 - 1, y / extent * 2 - 1), dim=-1)
    fine = F.grid_sample(ink.expand(len(boxes), -1, -1, -1), grid, align_corners=False, padding_mode="zeros")
    crops = F.avg_pool2d(fine, k)
    crops = crops / crops.amax(dim=(1, 2, 3), keepdim=True).clamp(min=0.1)
    if not config.box_channel:
        return crops
    # crop pixel centres in input pixels: inside the box (at least MIN_WINDOW crop pixels around its centre)
    coarse = (torch.arange(size, dtype=ink.dtype) + 0.5) / size * 2 - 1
    cv, cu = torch.meshgrid(coarse, coarse, indexing="ij")
    px = centre[:, 0, None, None] + half * (cos * cu - sin * cv)
    py = centre[:, 1, None, None] + half * (sin * cu + cos * cv)
    pixel = (side / size)[:, None, None]
    box_half = ((boxes[:, 2:] - boxes[:, :2]) / 2)[:, :, None, None]
    reach_x = torch.maximum(box_half[:, 0], MIN_WINDOW / 2 * pixel)
    reach_y = torch.maximum(box_half[:, 1], MIN_WINDOW / 2 * pixel)
    inside = ((px - centre[:, 0, None, None]).abs() <= reach_x) & (
        (py - centre[:, 1, None, None]).abs() <= reach_y
    )
    return torch.cat((crops, inside[:, None].to(crops.dtype)), dim=1)


def line_angles(detections: list[Detection]) -> dict[int, float]:
    """Index of each shown digit in a line of two or more -> the line's angle (radians)."""
    digits = [i for i, d in enumerate(detections) if is_digit(d.class_id)]
    if len(digits) < 2:
        return {}
    boxes = np.asarray([detections[i].box for i in digits], dtype=np.float64)
    angles = {}
    for line in group_lines(boxes):
        if len(line) < 2:
            continue
        cx = (boxes[line, 0] + boxes[line, 2]) / 2
        cy = (boxes[line, 1] + boxes[line, 3]) / 2
        slope = np.polyfit(cx, cy, 1)[0] if np.ptp(cx) > 0 else 0.0
        for i in line:
            angles[digits[i]] = math.atan(slope)
    return angles


def number_of(detections: list[Detection]) -> str:
    return read_number(
        [d.class_id for d in detections], np.asarray([d.box for d in detections]).reshape(-1, 4)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--min-angles", type=float, nargs="+", default=[3.0, 6.0, 10.0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    assert isinstance(detector.namer, TorchNamer)
    (classifier,) = classifiers_of(detector.namer.module.namer)
    names = detector.class_names
    ways = ["shipped"] + [
        f"{way} >= {angle:g} deg" for angle in args.min_angles for way in ("turned", "averaged")
    ]
    right = dict.fromkeys(ways, 0)
    single = dict.fromkeys(ways, 0)
    numbers = singles = 0
    changed = dict.fromkeys(ways, 0)
    for sample in tqdm(load_split(args.data, args.split).samples, desc="canvases"):
        ids = [int(c) for c in sample.class_ids]
        digit_count = sum(is_digit(c) for c in ids)
        if digit_count < 1:
            continue
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        expected = read_number(ids, truth)
        image = read_image(sample.image_path)
        shown = detector(image).detections
        angles = line_angles(shown)
        readings = {"shipped": shown}
        if angles:
            rgb = to_rgb(image)
            batch, letterbox = preprocess_array(rgb, detector.metadata.model.input_size)
            turn = sorted(angles)
            boxes = torch.as_tensor(
                letterbox.to_input(np.asarray([shown[i].box for i in turn])), dtype=torch.float32
            )
            upright, _ = split_rejection(name_probabilities(detector.namer, batch, boxes), len(names))
            with torch.inference_mode():
                ink = input_ink(torch.as_tensor(batch))
                radians = torch.tensor([angles[i] for i in turn], dtype=torch.float32)
                turned, _ = split_rejection(
                    classifier(turned_input(ink, boxes, radians, classifier.config)).softmax(-1), len(names)
                )
            for angle in args.min_angles:
                steep = radians.abs() >= math.radians(angle)
                for way, probs in (("turned", turned), ("averaged", (turned + upright) / 2)):
                    chosen = apply_log_bias(
                        torch.where(steep[:, None], probs, upright), detector.namer_log_bias
                    )
                    renamed = list(shown)
                    for row, i in enumerate(turn):
                        class_id = int(chosen[row].argmax())
                        if class_id != shown[i].class_id:
                            renamed[i] = replace(shown[i], class_id=class_id, label=names[class_id])
                    readings[f"{way} >= {angle:g} deg"] = renamed
        for way in ways:
            reading = readings.get(way, shown)
            changed[way] += reading is not shown and number_of(reading) != number_of(shown)
            if digit_count >= 2:
                right[way] += number_of(reading) == expected
            elif len(ids) == 1:
                single[way] += len(reading) == 1 and reading[0].class_id == ids[0]
        numbers += digit_count >= 2
        singles += digit_count == 1 and len(ids) == 1
    print(f"{args.data}:{args.split}: {numbers} numbers, {singles} lone digits")
    for way in ways:
        print(f"{way:22s} numbers {right[way]:5d}  lone digits {single[way]:5d}  changed {changed[way]}")


if __name__ == "__main__":
    main()

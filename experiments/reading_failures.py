"""Why canvases are read wrong: numbers by kind of failure and layout, and a sheet of single-digit failures.

    .venv/bin/python experiments/reading_failures.py --data data/synth --split test [--out sheet.png]

Runs the shipped detector (as the app does) on every canvas of the split with two or more digits and on
every single-digit canvas. A misread number is counted as having fewer characters than drawn (missed
digits), more (extra boxes), the right count with a wrong digit (naming), or the same digits in another
order; per layout, the share read exactly. Each single-digit failure is listed with what the canvas holds
(visible share of the digit, pen width over height, source, layout) and drawn on a contact sheet.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split, read_meta
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.reading import read_number

TILE = 160


def failure_kind(expected: str, shown: str) -> str:
    """Which way a number was misread (lines ignored)."""
    want, got = expected.replace("\n", ""), shown.replace("\n", "")
    if len(got) < len(want):
        return "fewer digits than drawn"
    if len(got) > len(want):
        return "more digits than drawn"
    return "right count, a wrong digit" if got != want else "right digits, other order or lines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=Path("reading_failures.png"))
    args = parser.parse_args()
    detector = Detector.from_weights(device="cpu")
    records = {(args.data / r["image"]).resolve(): r for r in read_meta(args.data, args.split)}
    kinds: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    tiles = []
    for sample in load_split(args.data, args.split).samples:
        ids = [int(c) for c in sample.class_ids]
        digits = sum(is_digit(c) for c in ids)
        if digits < 2 and not (len(ids) == 1 and digits == 1):
            continue
        record = records[sample.image_path.resolve()]
        image = read_image(sample.image_path)
        result = detector(image)
        if digits >= 2:
            total[record["layout"]] += 1
            expected = read_number(ids, np.asarray(sample.boxes_xyxy))
            if result.number != expected:
                failed[record["layout"]] += 1
                kinds[failure_kind(expected, result.number)] += 1
            continue
        shown = result.detections[0].label if result.detections else "nothing"
        if shown == str(ids[0]):
            continue
        drawn = next(o for o in record["objects"] if not o.get("dropped", False))
        print(
            f"{sample.image_path.name}: {ids[0]} read {shown}; visible {drawn['visible']:.2f}, pen/height "
            f"{drawn['pen_width'] / max(drawn['height'], 1.0):.2f}, {drawn['source'].get('kind')}, "
            f"{record['layout']}"
        )
        tile = image.convert("L").resize((TILE, TILE))
        ImageDraw.Draw(tile).text((2, 2), f"{ids[0]} read {shown}", fill=0)
        tiles.append(np.asarray(tile))
    numbers = sum(total.values())
    print(
        f"numbers misread: {sum(failed.values())} of {numbers}; "
        + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    )
    for layout in sorted(total):
        print(f"  {layout}: {1 - failed[layout] / total[layout]:.1%} read of {total[layout]}")
    if tiles:
        count = len(tiles)
        tiles += [np.full((TILE, TILE), 200, np.uint8)] * (-count % 8)
        rows = [np.hstack(tiles[i : i + 8]) for i in range(0, len(tiles), 8)]
        Image.fromarray(np.vstack(rows)).save(args.out)
        print(f"single-digit failures: {count}, drawn in {args.out}")


if __name__ == "__main__":
    main()

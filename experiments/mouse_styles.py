"""Digits drawn in the shapes people use with a mouse, at many sizes, pens and slants, read offline.

    .venv/bin/python experiments/mouse_styles.py [--weights FILE] [--sheet misread.png]

Each digit in the drawing probe's shape (:mod:`digit_detector.probe_drawings`) and in two or three other
common shapes (a 1 as one straight stroke, a Z-shaped 2, an open 4, a 7 with a bar, a 9 on a straight
stem, ...), 60 px tall (pens 6 and 12) and 130 and 300 px tall (pens 3, 12 and 25), upright, slanted and
shaky; rendered as the app's canvas does and read by the detector as the app reads them. The other shapes
are those of :mod:`digit_detector.data.sketches` (the training data's mouse sketches since 4.7.0), so for
weights trained with them this measures what was learnt, not new handwriting; the probe's shapes are not
among the templates. Prints how many are read exactly, the misread ones by shape, and draws them; then
a 1 drawn as one straight vertical stroke at five places across the canvas, 150 / 250 / 350 px tall, at
the top, middle and bottom, with pens 3, 6 and 12 (135 drawings); then numbers written on a rising
slope (0-30 degrees), as a hand on a mouse drifts; numbers of 3-11 digits across the canvas (a phone
number is longer than any of the training layouts); and every shape 25-45 px tall with pens 3-12 (the
app's default pen is 12: a 25 px digit drawn with it is a blob).
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digit_detector.data.sketches import TEMPLATES
from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.probe_drawings import DIGITS, Stroke, digit_strokes
from digit_detector.weights import DEFAULT_WEIGHTS

SIZES_AND_PENS = ((60, (6, 12)), (130, (3, 12, 25)), (300, (3, 12, 25)))
LONG_NUMBER_LENGTHS = (3, 5, 7, 9, 11)
SMALL_SIZES_AND_PENS = tuple((height, pen) for height in (25, 35, 45) for pen in (3, 6, 9, 12))  # 12: default
SLANT_AND_SHAKE = ((0.0, 0.0), (0.2, 0.0), (-0.1, 0.012))  # shear of the unit box, hand shake (of height)


def shapes() -> list[tuple[str, str, list[list[tuple[float, float]]]]]:
    """(digit, shape name, strokes in the unit box) for the probe's shapes and the sketch templates."""
    out = [(digit, "probe", [list(stroke) for stroke in strokes]) for digit, strokes in DIGITS.items()]
    for digit, templates in TEMPLATES.items():
        out += [(str(digit), f"sketch {number}", template) for number, template in enumerate(templates)]
    return out


def place(
    strokes: list[list[tuple[float, float]]],
    x: float,
    y: float,
    height: float,
    slant: float,
    shake: float,
    rng: random.Random,
) -> list[Stroke]:
    """The strokes at (``x``, ``y``), ``height`` px tall, sheared by ``slant``, every 1/12 of the height
    moved by a smooth shake of ``shake`` (of the height) as a hand on a mouse does."""
    placed = []
    for stroke in strokes:
        dense: list[tuple[float, float]] = []
        for (ax, ay), (bx, by) in pairwise(stroke):
            steps = max(1, int(math.hypot(bx - ax, by - ay) * 12))
            dense += [(ax + (bx - ax) * t / steps, ay + (by - ay) * t / steps) for t in range(steps)]
        dense.append(stroke[-1])
        phase = rng.uniform(0, 2 * math.pi)
        points = []
        for index, (px, py) in enumerate(dense):
            dx = shake * (math.sin(0.9 * index + phase) + rng.gauss(0, 0.5))
            dy = shake * (math.cos(0.7 * index + phase) + rng.gauss(0, 0.5))
            points.append((x + (px + slant * (1 - py) + dx) * height, y + (py + dy) * height))
        placed.append(points)
    return placed


def straight_ones(detector: Detector) -> list[tuple[int, int, int, int, str]]:
    """(x, height, pen, top, what was read) of each straight vertical `1` of the grid not read `1`."""
    misread = []
    for x in (60, 120, 200, 285, 340):
        for height in (150, 250, 350):
            for pen in (3, 6, 12):
                for top in (20, 200 - height // 2, 380 - height):
                    canvas = render_strokes([[(x, top), (x, top + height)]], width=pen)
                    read = detector(canvas).number
                    if read != "1":
                        misread.append((x, height, pen, top, read))
    return misread


def sloped_numbers(detector: Detector) -> list[tuple[str, int, str]]:
    """(number, slope in degrees, what was read) for numbers of 60 px digits written rising to the right."""
    readings = []
    for number in ("2026", "12345", "907"):
        for angle in (0, 10, 20, 30):
            step, strokes = 0.85 * 60, []
            for index, digit in enumerate(number):
                x = 40 + index * step * math.cos(math.radians(angle))
                y = 250 - index * step * math.sin(math.radians(angle))
                strokes += digit_strokes(digit, x, y, 60)
            readings.append((number, angle, detector(render_strokes(strokes)).number))
    return readings


def long_numbers(detector: Detector, rng: random.Random) -> list[tuple[int, int, str, str]]:
    """(digits, pen, number, what was read) for numbers of 3-11 digits (a phone number is longer than any
    number of the training layouts, 2-6 digits) written across the canvas, each digit in a random one of
    its shapes; 24 per length, pens 3 / 6 (and 12 when the digits are over 50 px tall)."""
    by_digit: dict[str, list[list[list[tuple[float, float]]]]] = {}
    for digit, _, shape in shapes():
        by_digit.setdefault(digit, []).append(shape)
    readings = []
    for length in LONG_NUMBER_LENGTHS:
        for _ in range(24):
            number = "".join(str(rng.randrange(10)) for _ in range(length))
            step = rng.uniform(0.8, 1.0) * 370 / length
            height = min(step / rng.uniform(0.75, 0.95), 200.0)
            pen = rng.choice((3, 6, 12) if height > 50 else (3, 6))
            x0, y = max(5.0, (400 - step * length) / 2), rng.uniform(20, 380 - height)
            strokes: list[Stroke] = []
            for index, digit in enumerate(number):
                strokes += place(
                    rng.choice(by_digit[digit]), x0 + index * step, y, height, 0.1 * rng.random(), 0.01, rng
                )
            readings.append((length, pen, number, detector(render_strokes(strokes, width=pen)).number))
    return readings


def small_digits(detector: Detector, rng: random.Random) -> Counter[tuple[int, int]]:
    """How many of the shapes (upright, and slanted and shaky) are read at each (height, pen) of
    :data:`SMALL_SIZES_AND_PENS`: small digits, the default pen among them."""
    read: Counter[tuple[int, int]] = Counter()
    for height, pen in SMALL_SIZES_AND_PENS:
        for digit, _, strokes in shapes():
            for slant, shake in ((0.0, 0.0), (0.2, 0.01)):
                x, y = rng.uniform(30, 370 - height), rng.uniform(30, 370 - height)
                canvas = render_strokes(place(strokes, x, y, height, slant, shake, rng), width=pen)
                read[(height, pen)] += detector(canvas).number == digit
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--sheet", type=Path, default=None, help="PNG of the misread drawings")
    args = parser.parse_args()
    detector = Detector.from_weights(args.weights, device="cpu")
    rng = random.Random(0)
    misread: list[tuple[str, str, int, int, float, str, np.ndarray]] = []
    total = 0
    for digit, name, strokes in shapes():
        for height, pens in SIZES_AND_PENS:
            for pen in pens:
                for slant, shake in SLANT_AND_SHAKE:
                    x = rng.uniform(30, 370 - 0.8 * height)
                    y = rng.uniform(30, 370 - height)
                    canvas = render_strokes(place(strokes, x, y, height, slant, shake, rng), width=pen)
                    read = detector(canvas).number.replace("\n", " ")
                    total += 1
                    if read != digit:
                        misread.append((digit, name, height, pen, slant, read, canvas))
    print(f"{args.weights}: read {total - len(misread)} of {total}")
    print("misread by shape:", Counter(f"{m[0]} {m[1]}" for m in misread).most_common())
    print("misread by height / pen:", Counter(f"{m[2]} px / pen {m[3]}" for m in misread).most_common())
    for digit, name, height, pen, slant, read, _ in misread:
        print(f"  {digit} ({name}) {height} px pen {pen} slant {slant}: read {read!r}")
    ones = straight_ones(detector)
    print(f"straight 1s read: {135 - len(ones)} of 135; misread (x, height, pen, top, read): {ones}")
    for number, angle, read in sloped_numbers(detector):
        print(f"{number} rising {angle} degrees: read {read!r}")
    longs = long_numbers(detector, random.Random(1))
    for length in LONG_NUMBER_LENGTHS:
        of_length = [r for r in longs if r[0] == length]
        wrong = [
            f"{number} read {read!r} (pen {pen})" for _, pen, number, read in of_length if read != number
        ]
        read_right = len(of_length) - len(wrong)
        print(f"{length}-digit numbers read: {read_right} of {len(of_length)}; misread: {wrong}")
    small = small_digits(detector, random.Random(2))
    per_cell = 2 * len(shapes())
    print(
        "small digits read (height px / pen: read of "
        + str(per_cell)
        + "): "
        + ", ".join(f"{h}/{p}: {small[(h, p)]}" for h, p in SMALL_SIZES_AND_PENS)
    )
    if args.sheet and misread:
        tiles = []
        for digit, name, _, _, _, read, canvas in misread:
            tile = Image.fromarray(canvas).convert("L").resize((160, 160))
            ImageDraw.Draw(tile).text((3, 3), f"{digit} ({name}) read {read or '-'}", fill=0)
            tiles.append(tile)
        columns = 8
        sheet = Image.new("L", (columns * 160, -(-len(tiles) // columns) * 160), 200)
        for index, tile in enumerate(tiles):
            sheet.paste(tile, ((index % columns) * 160, (index // columns) * 160))
        sheet.save(args.sheet)
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()

"""Numbers with a ``1`` drawn as one straight stroke beside other digits or other ``1``s, read as the app
reads them: how close may the strokes come?

    .venv/bin/python experiments/straight_ones.py [--weights F ...] [--sheet PNG]

Most people draw a ``1`` as one straight stroke (``probe_drawings.STRAIGHT_ONE``), and the synthetic
val and test splits hold none (their ``1``s are MNIST's, fonts' and Hershey's). Each number of
``NUMBERS`` is drawn with the probe's digit shapes in a row, centred on the app's 400 px canvas, at each
height of ``HEIGHTS``, pen of ``PENS`` (at most a fifth of the height) and gap of ``GAPS`` between the
inks of neighbours (in digit heights: 0 is ink touching ink, not drawn for two ``1``s side by side),
where the row fits the canvas; rendered as the canvas renders strokes and read offline (``Detector``).
Prints the share read exactly by gap for rows of ``1``s only and for a ``1`` beside other digits, per
weights given, and where the ``1``s of the misread ones are lost (``miss_stages.stage_lost``); ``--sheet``
draws the first weights' misreads.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from miss_stages import matches, stage_lost
from PIL import Image, ImageDraw

from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.probe_drawings import DIGITS, STRAIGHT_ONE, Stroke, unit_strokes
from digit_detector.render import grid
from digit_detector.weights import DEFAULT_WEIGHTS

CANVAS = 400.0
EDGE = 12.0  # canvas px kept free at the left and right
NUMBERS: tuple[str, ...] = (
    *("11", "111", "1111", "101", "2011", "1991", "110", "311"),
    *("41", "14", "71", "17", "12", "21", "91", "19", "61", "16", "31", "81", "51"),
)
HEIGHTS = (60.0, 120.0, 200.0)
PENS = (6, 12, 18)
GAPS = (0.0, 0.1, 0.25, 0.4)
TILE = 200


@dataclass(frozen=True)
class RowDrawing:
    number: str
    height: float
    pen: int
    gap: float
    strokes: list[Stroke]
    one_boxes: list[tuple[float, float, float, float]]  # the ink box of each 1

    @property
    def ones_only(self) -> bool:
        return set(self.number) == {"1"}


def shape(digit: str) -> list[Stroke]:
    return STRAIGHT_ONE if digit == "1" else DIGITS[digit]


def ink_span(digit: str) -> tuple[float, float]:
    """Left and right of a digit's stroke centres in its unit box."""
    xs = [x for stroke in shape(digit) for x, _ in stroke]
    return min(xs), max(xs)


def row_drawing(number: str, height: float, pen: int, gap: float) -> RowDrawing | None:
    """``number`` in a row, neighbours' inks ``gap`` heights apart, centred; None where it does not fit, or
    where two ``1``s would touch (two straight strokes touching all along are one bar, not ``11``)."""
    if gap == 0 and "11" in number:
        return None
    widths = [(right - left) * height for left, right in map(ink_span, number)]
    step = gap * height + pen  # stroke centres a pen apart: the inks touch
    total = sum(widths) + step * (len(number) - 1) + pen
    if total > CANVAS - 2 * EDGE:
        return None
    x, top = (CANVAS - total) / 2 + pen / 2, (CANVAS - height) / 2
    strokes: list[Stroke] = []
    one_boxes: list[tuple[float, float, float, float]] = []
    for digit, width in zip(number, widths, strict=True):
        left, _ = ink_span(digit)
        strokes += unit_strokes(shape(digit), x - left * height, top, height)
        if digit == "1":
            one_boxes.append((x - pen / 2, top - pen / 2, x + pen / 2, top + height + pen / 2))
        x += width + step
    return RowDrawing(number, height, pen, gap, strokes, one_boxes)


def drawings() -> list[RowDrawing]:
    every = [
        row_drawing(number, height, pen, gap)
        for number in NUMBERS
        for height in HEIGHTS
        for pen in PENS
        if pen <= height / 5
        for gap in GAPS
    ]
    return [drawing for drawing in every if drawing is not None]


def tile(drawing: RowDrawing, read: str) -> Image.Image:
    image = Image.fromarray(render_strokes(drawing.strokes, width=drawing.pen)).convert("RGB")
    pen = ImageDraw.Draw(image)
    pen.text(
        (4, 4), f"{drawing.number} read {read!r} (gap {drawing.gap:g}, pen {drawing.pen})", fill=(200, 0, 0)
    )
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS])
    parser.add_argument("--sheet", type=Path, default=None, help="draw the first weights' misreads here")
    args = parser.parse_args()
    rows = drawings()
    for index, weights in enumerate(args.weights):
        detector = Detector.from_weights(weights)
        readings = [detector(render_strokes(d.strokes, width=d.pen)).number for d in rows]
        table: dict[tuple[str, float], list[bool]] = defaultdict(list)
        for drawing, read in zip(rows, readings, strict=True):
            kind = "rows of 1s" if drawing.ones_only else "a 1 beside other digits"
            table[(kind, drawing.gap)].append(read == drawing.number)
        print(f"== {weights}")
        print("| drawings | " + " | ".join(f"gap {gap:g}" for gap in GAPS) + " |")
        print("| --- | " + " | ".join("---:" for _ in GAPS) + " |")
        for kind in ("rows of 1s", "a 1 beside other digits"):
            cells = [table[(kind, gap)] for gap in GAPS]
            print(f"| {kind} | " + " | ".join(f"{sum(cell)} of {len(cell)}" for cell in cells) + " |")
        lost: Counter[str] = Counter()
        for drawing, read in zip(rows, readings, strict=True):
            if read == drawing.number:
                continue
            image = Image.fromarray(render_strokes(drawing.strokes, width=drawing.pen))
            result = detector(image)
            shown = np.asarray([d.box for d in result.detections], dtype=np.float64).reshape(-1, 4)
            for box in np.asarray(drawing.one_boxes, dtype=np.float64):
                if not matches(box, shown):
                    lost[stage_lost(detector, image, box)] += 1
        print(f"1s of misread numbers that no shown box matches, by where they are lost: {dict(lost)}")
        if index == 0 and args.sheet is not None:
            misread = [tile(d, read) for d, read in zip(rows, readings, strict=True) if read != d.number]
            args.sheet.parent.mkdir(parents=True, exist_ok=True)
            grid(misread, columns=10, tile_size=TILE).quantize(colors=32).save(args.sheet)
            print(f"{len(misread)} misread, drawn in {args.sheet}")


if __name__ == "__main__":
    main()

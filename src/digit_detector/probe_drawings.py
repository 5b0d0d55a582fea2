"""The drawing probe's drawings: digits and numbers as a person draws them with a mouse (one or two strokes
per digit), in the app's canvas pixels (400x400).

``scripts/browser_probe.py`` draws them into the running app in Chromium; the regression gate renders them
as the canvas does (:func:`digit_detector.loadgen_drawings.render_strokes`) and reads them without a browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Point = tuple[float, float]
Stroke = list[Point]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 14) -> Stroke:
    """Points on an ellipse from angle ``start`` to ``end`` (degrees, 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(start + (end - start) * i / (n - 1))),
         cy + ry * math.sin(math.radians(start + (end - start) * i / (n - 1))))
        for i in range(n)
    ]  # fmt: skip


# Each digit in a unit box (x 0..0.6, y 0..1), as a person draws it with the mouse.
DIGITS: dict[str, list[Stroke]] = {
    "0": [arc(0.3, 0.5, 0.28, 0.48, -90, 275, 20)],
    "1": [[(0.15, 0.2), (0.35, 0.0), (0.35, 1.0)]],
    "2": [[*arc(0.3, 0.28, 0.26, 0.26, 190, 370, 10), (0.5, 0.45), (0.02, 1.0), (0.6, 1.0)]],
    "3": [arc(0.28, 0.25, 0.26, 0.24, 200, 450, 12) + arc(0.28, 0.74, 0.3, 0.26, -90, 160, 12)],
    "4": [[(0.42, 0.0), (0.0, 0.65), (0.6, 0.65)], [(0.45, 0.3), (0.45, 1.0)]],
    "5": [[(0.55, 0.0), (0.08, 0.0), (0.05, 0.45), *arc(0.28, 0.68, 0.3, 0.3, -110, 150, 12)]],
    "6": [[(0.5, 0.0), (0.2, 0.3), *arc(0.3, 0.72, 0.27, 0.27, 190, 550, 16)]],
    "7": [[(0.0, 0.0), (0.6, 0.0), (0.2, 1.0)]],
    "8": [arc(0.3, 0.26, 0.22, 0.24, 90, 450, 14) + arc(0.3, 0.74, 0.28, 0.26, -90, 270, 16)],
    "9": [[*arc(0.3, 0.28, 0.26, 0.26, 0, 360, 14), (0.56, 0.3), (0.5, 1.0)]],
}

# A 1 as most people draw it: one straight stroke (the 1 above has a flag). Package 4.6.0 showed nothing for
# it when tall and thin (the namer's crop of it was faint grey and its box window empty: see naming.crop_ink).
STRAIGHT_ONE: list[Stroke] = [[(0.3, 0.0), (0.3, 1.0)]]


def unit_strokes(strokes: list[Stroke], x: float, y: float, height: float) -> list[Stroke]:
    """``strokes`` of a unit box with its top left at (``x``, ``y``), ``height`` pixels tall."""
    return [[(x + px * height, y + py * height) for px, py in stroke] for stroke in strokes]


def digit_strokes(digit: str, x: float, y: float, height: float) -> list[Stroke]:
    """``digit``'s strokes with its unit box's top left at (``x``, ``y``), ``height`` pixels tall."""
    return unit_strokes(DIGITS[digit], x, y, height)


def number_strokes(number: str, x: float, y: float, height: float, step: float = 0.85) -> list[Stroke]:
    """The digits of ``number`` side by side, ``step`` x ``height`` apart (0.6: each touches the next)."""
    strokes: list[Stroke] = []
    for index, digit in enumerate(number):
        strokes += digit_strokes(digit, x + index * step * height, y, height)
    return strokes


# pen-width slider key -> pen width: the app's minimum, default (no key) and maximum
PENS: dict[str | None, int] = {"Home": 3, None: 12, "End": 25}


@dataclass(frozen=True)
class ProbeDrawing:
    """One drawing of the probe: what it spells, its kind, its strokes, and the pen-width slider key it is
    drawn with (None: the default pen)."""

    expected: str
    kind: str
    strokes: list[Stroke]
    pen_key: str | None = None

    @property
    def pen_width(self) -> int:
        return PENS[self.pen_key]


def probe_drawings() -> list[ProbeDrawing]:
    """Each digit 220 and 110 px tall with the default pen, 350 px with the thinnest, default and thickest
    pens, a 1 drawn as one straight stroke (110 px, and 350 px with each of those pens), nine numbers
    of 2-4 digits, three of them with each digit touching the next, and four numbers 120 px tall whose 1s
    are straight strokes (``row_drawing``)."""
    cases = [ProbeDrawing(d, "digit 220 px", digit_strokes(d, 140, 90, 220)) for d in DIGITS]
    cases += [
        ProbeDrawing(d, "digit 110 px", digit_strokes(d, 40 + 25 * int(d), 40 + 20 * int(d), 110))
        for d in DIGITS
    ]
    for key, pen in PENS.items():
        # y from 40: the canvas toolbar drops strokes that start in its strip (top right, y < 35)
        cases += [
            ProbeDrawing(d, f"digit 350 px pen {pen}", digit_strokes(d, 95, 40, 350), key) for d in DIGITS
        ]
    cases += [
        ProbeDrawing("1", f"straight 1 {height} px", unit_strokes(STRAIGHT_ONE, 180, 40, height), key)
        for height, key in ((110, None), (350, "Home"), (350, None), (350, "End"))
    ]
    cases += [
        ProbeDrawing("42", "number", number_strokes("42", 80, 120, 150)),
        ProbeDrawing("317", "number", number_strokes("317", 40, 140, 120)),
        ProbeDrawing("2026", "number", number_strokes("2026", 20, 150, 90)),
        ProbeDrawing("58", "number", number_strokes("58", 100, 60, 180)),
        ProbeDrawing("90", "number", number_strokes("90", 90, 200, 120)),
        ProbeDrawing("1234", "number", number_strokes("1234", 30, 100, 100)),
        ProbeDrawing("85", "touching number", number_strokes("85", 100, 120, 150, step=0.6)),
        ProbeDrawing("47", "touching number", number_strokes("47", 60, 200, 110, step=0.6)),
        ProbeDrawing("2026", "touching number", number_strokes("2026", 30, 140, 120, step=0.6)),
    ]
    for number, gap in (("11", 0.4), ("111", 0.25), ("2011", 0.25), ("41", 0.1)):
        row = row_drawing(number, 120.0, PENS[None], gap)
        assert row is not None, f"{number} does not fit the canvas"
        cases.append(ProbeDrawing(number, "number with straight 1s", row.strokes))
    return cases


# Numbers with straight-stroke 1s in a row (experiments/straight_ones.py, the regression gate): each drawn
# centred on the canvas at every height, pen (at most a fifth of the height) and gap between neighbours' inks
# (in digit heights; 0: ink touches ink) where the row fits.
STRAIGHT_ONE_NUMBERS: tuple[str, ...] = (
    *("11", "111", "1111", "101", "2011", "1991", "110", "311"),
    *("41", "14", "71", "17", "12", "21", "91", "19", "61", "16", "31", "81", "51"),
)
ROW_HEIGHTS = (60.0, 120.0, 200.0)
ROW_PENS = (6, 12, 18)
ROW_GAPS = (0.0, 0.1, 0.25, 0.4)
CANVAS_SIDE = 400.0
ROW_EDGE = 12.0  # canvas px kept free at the left and right of a row


@dataclass(frozen=True)
class RowDrawing:
    """A number drawn in a row with straight-stroke 1s, and the ink box of each of its 1s."""

    number: str
    height: float
    pen: int
    gap: float
    strokes: list[Stroke]
    one_boxes: list[tuple[float, float, float, float]]

    @property
    def ones_only(self) -> bool:
        return set(self.number) == {"1"}


def row_shape(digit: str) -> list[Stroke]:
    return STRAIGHT_ONE if digit == "1" else DIGITS[digit]


def ink_span(digit: str) -> tuple[float, float]:
    """Left and right of a digit's stroke centres in its unit box."""
    xs = [x for stroke in row_shape(digit) for x, _ in stroke]
    return min(xs), max(xs)


def row_drawing(number: str, height: float, pen: int, gap: float) -> RowDrawing | None:
    """``number`` in a row, neighbours' inks ``gap`` heights apart, centred; None where it does not fit, or
    where two ``1``s would touch (two straight strokes touching all along are one bar, not ``11``)."""
    if gap == 0 and "11" in number:
        return None
    widths = [(right - left) * height for left, right in map(ink_span, number)]
    step = gap * height + pen  # stroke centres a pen apart: the inks touch
    total = sum(widths) + step * (len(number) - 1) + pen
    if total > CANVAS_SIDE - 2 * ROW_EDGE:
        return None
    x, top = (CANVAS_SIDE - total) / 2 + pen / 2, (CANVAS_SIDE - height) / 2
    strokes: list[Stroke] = []
    one_boxes: list[tuple[float, float, float, float]] = []
    for digit, width in zip(number, widths, strict=True):
        left, _ = ink_span(digit)
        strokes += unit_strokes(row_shape(digit), x - left * height, top, height)
        if digit == "1":
            one_boxes.append((x - pen / 2, top - pen / 2, x + pen / 2, top + height + pen / 2))
        x += width + step
    return RowDrawing(number, height, pen, gap, strokes, one_boxes)


def straight_one_rows() -> list[RowDrawing]:
    """Every number of ``STRAIGHT_ONE_NUMBERS`` at every height, pen and gap where it fits (612 drawings)."""
    every = [
        row_drawing(number, height, pen, gap)
        for number in STRAIGHT_ONE_NUMBERS
        for height in ROW_HEIGHTS
        for pen in ROW_PENS
        if pen <= height / 5
        for gap in ROW_GAPS
    ]
    return [drawing for drawing in every if drawing is not None]

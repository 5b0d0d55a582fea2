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
    pens, a 1 drawn as one straight stroke (110 px, and 350 px with each of those pens), and nine numbers
    of 2-4 digits, three of them with each digit touching the next."""
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
    return cases

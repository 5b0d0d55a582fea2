"""Does every clear digit get an answer? Lone digits over the app's whole size and pen range.

Each cell of the grid draws digits of held-out handwriting (the test split's MNIST digits, fonts and
Hershey fonts, through the data engine's pen renderer) at one ink height and one pen width, alone and
centred at a random place on a white 400x400 canvas, and asks the detector. A digit counts as *shown* when
anything is detected, *named* when the best detection has its class. Cells where the pen is too thick for
the height (below :func:`~digit_detector.data.compose.min_height_for`: loops close, people cannot read it
either) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from digit_detector.data.compose import CANVAS_SIZE, fit_ink, min_height_for
from digit_detector.data.objects import ObjectFactory
from digit_detector.detector import Detection, Detector

HEIGHTS: tuple[float, ...] = (20.0, 40.0, 80.0, 160.0, 280.0, 380.0)  # canvas px, 20 px to the whole canvas
PENS: tuple[float, ...] = (3.0, 12.0, 25.0)  # the app's slider: minimum, default, maximum


@dataclass
class Cell:
    """One (height, pen) cell: how many digits were drawn, shown and named right."""

    height: float
    pen: float
    drawn: int = 0
    shown: int = 0
    named: int = 0
    failures: list[tuple[NDArray[np.uint8], int, list[Detection]]] = field(default_factory=list)


def lone_digit_canvas(
    factory: ObjectFactory, digit: int, height: float, pen: float, rng: np.random.Generator
) -> NDArray[np.uint8]:
    """A white 400x400 grayscale canvas with one digit drawn at a random place (kept inside)."""
    ink = fit_ink(factory.digit(digit, height, pen), CANVAS_SIZE)
    h, w = ink.shape
    canvas = np.zeros((CANVAS_SIZE, CANVAS_SIZE), dtype=np.float32)
    y, x = int(rng.integers(0, CANVAS_SIZE - h + 1)), int(rng.integers(0, CANVAS_SIZE - w + 1))
    canvas[y : y + h, x : x + w] = ink
    return np.rint(255.0 * (1.0 - canvas)).astype(np.uint8)


def lone_digit_grid(
    detector: Detector,
    per_cell: int = 20,
    *,
    heights: Sequence[float] = HEIGHTS,
    pens: Sequence[float] = PENS,
    seed: int = 0,
    split: str = "test",
) -> list[Cell]:
    """Draw ``per_cell`` digits (cycling 0-9) in every legible (height, pen) cell and detect them."""
    rng = np.random.default_rng(seed)
    factory = ObjectFactory(split, np.random.default_rng(seed + 1))
    cells = []
    for height in heights:
        for pen in pens:
            if height < min_height_for(pen) - 1e-9:
                continue
            cell = Cell(height, pen)
            canvases = [lone_digit_canvas(factory, i % 10, height, pen, rng) for i in range(per_cell)]
            for i, detections in enumerate(detector.detect_batch(canvases)):
                cell.drawn += 1
                cell.shown += bool(detections)
                right = bool(detections) and detections[0].class_id == i % 10
                cell.named += right
                if not right:
                    cell.failures.append((canvases[i], i % 10, detections))
            cells.append(cell)
    return cells


def grid_table(cells: Sequence[Cell]) -> str:
    """A Markdown table: rows heights, columns pens, each cell 'named/drawn (shown)'."""
    pens = sorted({c.pen for c in cells})
    heights = sorted({c.height for c in cells})
    by_key = {(c.height, c.pen): c for c in cells}
    lines = [
        "| height (px of 400) | " + " | ".join(f"pen {p:g}" for p in pens) + " |",
        "| ---: | " + " | ".join("---:" for _ in pens) + " |",
    ]
    for height in heights:
        row = []
        for pen in pens:
            cell = by_key.get((height, pen))
            row.append("—" if cell is None else f"{cell.named}/{cell.drawn} named ({cell.shown} shown)")
        lines.append(f"| {height:g} | " + " | ".join(row) + " |")
    return "\n".join(lines)

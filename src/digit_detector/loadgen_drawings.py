"""The load generator's drawings: strokes as the canvas sends them; does a result show its own drawing."""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

CANVAS_SIZE = 400
PEN_WIDTH = 12
VERIFY_GRID = 100  # ink masks are compared at 100x100 (4x4-pixel cells of the 400x400 canvas)
FABRIC_VERSION = "6.7.1"


# ---------------------------------------------------------------------------------------------------------
# What: drawings as the canvas sends them
# ---------------------------------------------------------------------------------------------------------

Point = tuple[float, float]


def random_stroke(rng: random.Random, centre: Point, size: float = 60.0, points: int = 24) -> list[Point]:
    """A digit-like pen stroke: a wobbly arc of an ellipse (a loop, a hook or a bar) around ``centre``."""
    start = rng.uniform(0, 2 * np.pi)
    span = rng.uniform(0.5, 1.8) * np.pi
    rx, ry = rng.uniform(0.3, 1.0) * size, rng.uniform(0.6, 1.2) * size
    cx, cy = centre
    stroke = []
    for t in np.linspace(0.0, 1.0, points):
        angle = start + span * t
        x = cx + rx * np.cos(angle) + rng.gauss(0, 1.0)
        y = cy + ry * np.sin(angle) + rng.gauss(0, 1.0)
        stroke.append((min(max(x, 4.0), CANVAS_SIZE - 4.0), min(max(y, 4.0), CANVAS_SIZE - 4.0)))
    return stroke


def fabric_path(stroke: Sequence[Point], width: int = PEN_WIDTH) -> dict[str, Any]:
    """The fabric.js ``Path`` object the canvas's free-drawing brush makes of ``stroke``."""
    xs, ys = [p[0] for p in stroke], [p[1] for p in stroke]
    left, top = min(xs) - width / 2, min(ys) - width / 2
    commands: list[list[Any]] = [["M", round(xs[0], 3), round(ys[0], 3)]]
    commands += [["L", round(x, 3), round(y, 3)] for x, y in stroke[1:]]
    return {
        "type": "Path",
        "version": FABRIC_VERSION,
        "originX": "left",
        "originY": "top",
        "left": round(left, 3),
        "top": round(top, 3),
        "width": round(max(xs) - min(xs), 3),
        "height": round(max(ys) - min(ys), 3),
        "fill": None,
        "stroke": "#000000",
        "strokeWidth": width,
        "strokeLineCap": "round",
        "strokeLineJoin": "round",
        "strokeMiterLimit": 10,
        "scaleX": 1,
        "scaleY": 1,
        "angle": 0,
        "opacity": 1,
        "visible": True,
        "path": commands,
    }


def render_strokes(strokes: Sequence[Sequence[Point]], width: int = PEN_WIDTH) -> NDArray[np.uint8]:
    """The canvas's pixels (RGBA, white paper, black round pen) with ``strokes`` drawn."""
    picture = Image.new("RGBA", (CANVAS_SIZE, CANVAS_SIZE), (255, 255, 255, 255))
    pen = ImageDraw.Draw(picture)
    radius = width / 2
    for stroke in strokes:
        pen.line(list(stroke), fill=(0, 0, 0, 255), width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(0, 0, 0, 255))
    return np.asarray(picture)


def ink_grid(pixels: NDArray[np.uint8], grid: int = VERIFY_GRID) -> NDArray[np.bool_]:
    """Where the picture has black ink (all channels < 60), on a ``grid`` x ``grid`` mask (a cell is ink
    when any of its pixels is)."""
    rgb = pixels[:, :, :3] if pixels.ndim == 3 else pixels[:, :, None]
    ink = rgb.max(axis=2) < 60
    height, width = ink.shape
    cell_h, cell_w = height // grid, width // grid
    cropped = ink[: cell_h * grid, : cell_w * grid]
    return np.asarray(cropped.reshape(grid, cell_h, grid, cell_w).any(axis=(1, 3)))


@dataclass(frozen=True)
class CanvasState:
    """One value of the canvas (after ``strokes`` strokes of drawing ``drawing``), ready to send."""

    drawing: int
    strokes: int
    value_json: str  # the component's widget state, as the browser sends it
    ink: NDArray[np.bool_]  # the ink on the :data:`VERIFY_GRID` grid, to recognise the result image
    lines: tuple[tuple[Point, ...], ...] = ()  # the strokes' points

    def pixels(self) -> NDArray[np.uint8]:
        """The canvas's pixels (RGBA) in this state."""
        return render_strokes(self.lines)


def canvas_state(drawing: int, strokes: Sequence[Sequence[Point]]) -> CanvasState:
    """The canvas's value after ``strokes``: the PNG the browser's ``canvas.toDataURL("png")`` makes (RGBA,
    opaque white paper) and the fabric.js JSON, one ``Path`` per stroke."""
    pixels = render_strokes(strokes)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    raw = {"version": FABRIC_VERSION, "objects": [fabric_path(s) for s in strokes], "background": "#FFFFFF"}
    value = json.dumps({"drawing": {"raw": raw, "data": data_url}}, separators=(",", ":"))
    lines = tuple(tuple(stroke) for stroke in strokes)
    return CanvasState(drawing, len(strokes), value, ink_grid(pixels), lines)


def drawing_bank(drawings: int, strokes_per_drawing: int, seed: int = 0) -> list[list[CanvasState]]:
    """``drawings`` different drawings of ``strokes_per_drawing`` strokes each (two or three digit-like
    shapes side by side), every drawing as its successive canvas values (1, 2, ... strokes)."""
    rng = random.Random(seed)
    bank = []
    for drawing in range(drawings):
        digits = rng.randint(2, 3)
        centres = [
            (CANVAS_SIZE * (i + 0.5) / digits + rng.uniform(-15, 15), rng.uniform(130, 270))
            for i in range(digits)
        ]
        strokes = [random_stroke(rng, centres[i % digits]) for i in range(strokes_per_drawing)]
        bank.append([canvas_state(drawing, strokes[: n + 1]) for n in range(strokes_per_drawing)])
    return bank


def _near(ink: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``ink`` grown by one cell: the result is enlarged and framed, its lines shift by a pixel or two."""
    padded = np.pad(ink, 1)
    near = np.zeros_like(ink)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            near |= padded[dy : dy + ink.shape[0], dx : dx + ink.shape[1]]
    return near


def ink_agreement(shown: NDArray[np.bool_], drawn: NDArray[np.bool_]) -> float:
    """How well two ink grids agree, 0-1: the harmonic mean of the share of ``shown`` near ``drawn`` and
    the share of ``drawn`` near ``shown`` (a larger drawing that merely contains ``shown`` scores low)."""
    if not shown.any() or not drawn.any():
        return 0.0
    precision = (shown & _near(drawn)).sum() / shown.sum()
    recall = (drawn & _near(shown)).sum() / drawn.sum()
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def matches_own_drawing(
    result: NDArray[np.uint8], own: CanvasState, others: Sequence[CanvasState]
) -> bool | None:
    """Whether the result image (the drawing as the app shows it, boxed, at any integer scale) shows ``own``
    rather than any of ``others`` (other drawings; states of ``own``'s drawing are left out): its black ink
    must agree with ``own``'s (:func:`ink_agreement` over 0.8) better than with any other's. None when it
    has little black ink to judge by (e.g. objects pixelated as "censored")."""
    shown = ink_grid(result)
    if shown.sum() < 5:
        return None
    mine = ink_agreement(shown, own.ink)
    if mine < 0.8 and shown.sum() < 0.5 * own.ink.sum():  # mostly pixelated away: nothing to judge by
        return None
    rivals = (ink_agreement(shown, other.ink) for other in others if other.drawing != own.drawing)
    return mine >= 0.8 and all(mine > rival for rival in rivals)

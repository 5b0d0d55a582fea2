"""Held-out handwriting drawn the way the app's canvas receives it: rows of mouse strokes.

The test split composes the reserved MNIST digits into canvases with the data engine's augmentation (slant,
stretch, warp, hand wobble, canvas rotations up to 30 degrees, digits cut by the edge). This draws the same
reserved digits (the split's traced centre lines, :meth:`ObjectFactory.mnist_strokes`, the excluded
originals left out) as a person draws them with the mouse: each writer's own shape, upright, as clean
strokes of the app's round pen (:func:`~digit_detector.loadgen_drawings.render_strokes`, the canvas's
rendering), one digit alone or 2-5 in a row, 50-160 px tall, with pens 6, 12 (the app's default) and 18,
the gap between digits from a slight overlap to 40 % of their height. ``experiments/held_out_mouse.py``
reads them offline or in the running app; the CI gate reads a few hundred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from digit_detector.data.objects import ObjectFactory
from digit_detector.data.sources import load_mnist, mnist_split_range
from digit_detector.loadgen_drawings import CANVAS_SIZE, render_strokes

PENS: tuple[int, ...] = (6, 12, 18)
MARGIN = 12.0  # canvas px kept free at every edge


@dataclass
class Drawing:
    """One drawing: the digits drawn (``expected``, as the app reads them), pen and ink height in canvas
    px, and the mouse strokes."""

    expected: str
    pen: int
    height: float
    strokes: list[list[tuple[float, float]]]

    def canvas(self) -> NDArray[np.uint8]:
        """The drawing as the app's canvas renders it."""
        return render_strokes(self.strokes, width=self.pen)


def glyph_strokes(
    factory: ObjectFactory, split_range: list[range], digit: int, rng: np.random.Generator
) -> list[NDArray[np.float64]]:
    """A random MNIST original of ``digit`` from the split's range that the engine can trace, as centre-line
    strokes."""
    indices = split_range[digit]
    while True:
        strokes = factory.mnist_strokes(digit, int(rng.integers(indices.start, indices.stop)))
        if strokes:
            return [np.asarray(s, dtype=np.float64) for s in strokes]


def make_drawing(factory: ObjectFactory, split_range: list[range], rng: np.random.Generator) -> Drawing:
    """One drawing: 1-5 of the split's digits in a row, centred on the canvas with a little jitter."""
    count = int(rng.choice([1, 2, 3, 4, 5], p=[0.3, 0.2, 0.2, 0.15, 0.15]))
    pen = int(rng.choice(PENS))
    digits = [int(d) for d in rng.integers(0, 10, size=count)]
    glyphs = [glyph_strokes(factory, split_range, d, rng) for d in digits]
    spans = [(points.min(0), points.max(0)) for points in map(np.concatenate, glyphs)]
    widths_per_height = [max((hi[0] - lo[0]) / max(hi[1] - lo[1], 1e-6), 0.05) for lo, hi in spans]
    gaps = rng.uniform(-0.05, 0.4, size=max(count - 1, 0))
    # the tallest height at which the row (ink widths + pens + gaps) fits the canvas, capped at 50-160 px
    room = CANVAS_SIZE - 2 * MARGIN
    per_height = sum(widths_per_height) + float(gaps.sum())
    fits = (room - count * pen) / max(per_height, 1e-6)
    height = float(min(rng.uniform(50, 160), fits, room - pen))
    row_width = height * per_height + count * pen
    x = (CANVAS_SIZE - row_width) / 2 + rng.uniform(-1, 1) * max((room - row_width) / 2, 0)
    top = (CANVAS_SIZE - height) / 2 + rng.uniform(-1, 1) * max((room - height - pen) / 2, 0)
    strokes: list[list[tuple[float, float]]] = []
    for i, ((lo, hi), glyph, ratio) in enumerate(zip(spans, glyphs, widths_per_height, strict=True)):
        scale = height / max(hi[1] - lo[1], 1e-6)
        left = x + pen / 2
        for stroke in glyph:
            moved = (stroke - lo) * scale + np.array([left, top])
            strokes.append([(float(px), float(py)) for px, py in moved])
        x += ratio * height + pen + (gaps[i] * height if i < count - 1 else 0.0)
    return Drawing("".join(map(str, digits)), pen, height, strokes)


def held_out_drawings(split: str, n: int, seed: int) -> list[Drawing]:
    """The ``n`` drawings of ``split``'s MNIST digits that ``seed`` makes (the same for every caller)."""
    rng = np.random.default_rng(seed)
    factory = ObjectFactory(split, np.random.default_rng(seed))
    split_range = [mnist_split_range(len(images), split) for images in load_mnist()]
    return [make_drawing(factory, split_range, rng) for _ in range(n)]

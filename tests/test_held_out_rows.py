"""Held-out handwriting drawn as rows of mouse strokes: the drawings the CI gate and the experiment read."""

from __future__ import annotations

import numpy as np

from digit_detector.held_out_rows import MARGIN, PENS, held_out_drawings
from digit_detector.loadgen_drawings import CANVAS_SIZE


def test_a_seed_makes_the_same_drawings_every_time() -> None:
    first, again, other = (held_out_drawings("test", 6, seed) for seed in (5, 5, 6))
    assert [(d.expected, d.pen, d.strokes) for d in first] == [(d.expected, d.pen, d.strokes) for d in again]
    assert [d.strokes for d in first] != [d.strokes for d in other]


def test_drawings_are_rows_of_digits_inside_the_canvas_with_the_app_s_pens() -> None:
    for drawing in held_out_drawings("val", 12, 3):
        assert drawing.expected.isdigit() and 1 <= len(drawing.expected) <= 5
        assert drawing.pen in PENS and drawing.height <= 160
        canvas = drawing.canvas()
        assert canvas.shape[:2] == (CANVAS_SIZE, CANVAS_SIZE)
        rows, columns = np.nonzero(canvas[..., 0] < 128)  # black ink on white
        reach = MARGIN - drawing.pen  # a round pen reaches half its width past a stroke's end
        assert rows.min() >= reach and columns.min() >= reach
        assert rows.max() <= CANVAS_SIZE - reach and columns.max() <= CANVAS_SIZE - reach
        assert rows.max() - rows.min() >= 0.8 * drawing.height  # the digits are as tall as drawn

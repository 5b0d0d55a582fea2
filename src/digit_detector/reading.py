"""Read the drawn number from digit detections.

The rule:
1. Only digit detections (classes 0-9) take part; ``other`` and ``censored`` never enter the number.
2. Digits are taken left to right (by horizontal centre). A digit continues a line when its vertical
   centre lies within half a digit height (the taller of the two) of the centre of the line's last digit;
   of several such lines, the nearest. Otherwise it starts a new line. Comparing with the neighbour, not
   with the line's mean, keeps a number written on a slope one line (a hand on a mouse drifts: 4.6.0
   read ``12345`` rising at 20 degrees as ``345`` over ``12``).
3. Each line is read left to right; lines are read top to bottom (by their mean vertical centre) and
   joined with a newline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from digit_detector.classes import CLASS_NAMES, is_digit


def group_lines(boxes_xyxy: NDArray[np.floating]) -> list[list[int]]:
    """Indices of the boxes grouped into lines (top to bottom), each line left to right."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    centers_x = (boxes[:, 0] + boxes[:, 2]) / 2
    centers_y = (boxes[:, 1] + boxes[:, 3]) / 2
    heights = boxes[:, 3] - boxes[:, 1]
    lines: list[list[int]] = []
    for index in sorted(range(len(boxes)), key=lambda i: (centers_x[i], i)):
        gaps = [abs(centers_y[index] - centers_y[line[-1]]) for line in lines]
        reach = [0.5 * max(heights[index], heights[line[-1]]) for line in lines]
        near = [number for number, (gap, limit) in enumerate(zip(gaps, reach, strict=True)) if gap <= limit]
        if near:
            lines[min(near, key=lambda number: gaps[number])].append(index)
        else:
            lines.append([index])
    return sorted(lines, key=lambda line: (float(np.mean(centers_y[line])), line[0]))


def read_number(class_ids: Sequence[int], boxes_xyxy: NDArray[np.floating]) -> str:
    """The number written by the digit detections (see the module docstring for the rule)."""
    digit_indices = [i for i, class_id in enumerate(class_ids) if is_digit(int(class_id))]
    if not digit_indices:
        return ""
    digit_boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)[digit_indices]
    lines = group_lines(digit_boxes)
    return "\n".join("".join(CLASS_NAMES[int(class_ids[digit_indices[i]])] for i in line) for line in lines)


def failure_kind(expected: str, shown: str) -> str:
    """Which way ``shown`` misreads the number ``expected`` (lines ignored): fewer digits than drawn (missed),
    more (extra boxes), the right count with a wrong digit (naming), or the same digits in another order."""
    want, got = expected.replace("\n", ""), shown.replace("\n", "")
    if len(got) < len(want):
        return "fewer digits than drawn"
    if len(got) > len(want):
        return "more digits than drawn"
    return "right count, a wrong digit" if got != want else "right digits, other order or lines"

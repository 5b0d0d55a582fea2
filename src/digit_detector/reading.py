"""Read the drawn number from digit detections.

The rule:
1. Only digit detections (classes 0-9) take part; ``other`` and ``censored`` never enter the number.
2. Digits are taken in order of their vertical centre. A digit joins the current line when its centre
   lies within half the line's median digit height of the line's mean centre; otherwise it starts a
   new line.
3. Each line is read left to right (by horizontal centre); lines are read top to bottom and joined
   with a newline.
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
    for index in np.argsort(centers_y, kind="stable"):
        if lines:
            line = lines[-1]
            line_center = float(np.mean(centers_y[line]))
            if abs(centers_y[index] - line_center) <= 0.5 * float(np.median(heights[line])):
                line.append(int(index))
                continue
        lines.append([int(index)])
    return [sorted(line, key=lambda i: (centers_x[i], i)) for line in lines]


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

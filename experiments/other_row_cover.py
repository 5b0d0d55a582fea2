"""A number swallowed by one `other` box: let the digits it holds outweigh it.

    .venv/bin/python experiments/other_row_cover.py --data data/val2 --split val --rules shipped cover count
    .venv/bin/python experiments/other_row_cover.py --mouse val --n 2000 --seed 1 --rules shipped cover count

Held-out handwriting drawn as mouse strokes (``held_out_mouse.py``) showed clear numbers read as nothing or
one digit: `0622` read '' and `16413` read '3'. The detector proposed the whole row once more as one
`other` box (objectness 0.6-0.7) over digit boxes it also found. The containment rule
(``decode.contained``) drops the larger box instead of the boxes inside only when those that outscore it
are all digits, two or more, and cover :data:`~digit_detector.decode.GROUP_COVER` of it. In `0622` two
sure `2`s outscore the `other`, but the `0`s and the `6` score under it, so the two `2`s alone cover too
little of the row and the `other` hides all five.

The rules compared (every :class:`Detector` of the process is patched, evaluation builds its own):

- ``shipped``: ``decode.contained`` as it is;
- ``cover``: when the larger box is named a non-digit, every digit box it holds counts towards the cover,
  not only those that outscore it (two or more must still outscore it);
- ``count``: the same, and the digits it holds need not outscore it, two or more of any score (no held
  non-digit may outscore it).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from held_out_mouse import add_mouse_arguments, read_variants
from numpy.typing import NDArray

from digit_detector import detector as detector_module
from digit_detector.boxes import inside_share
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.decode import GROUP_COVER, contained
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate

RULES = ("shipped", "cover", "count")


def rows_in_others(
    boxes: NDArray[Any], threshold: float, scores: NDArray[Any], class_ids: NDArray[Any], *, any_score: bool
) -> NDArray[np.bool_]:
    """Mask of the non-digit boxes that are a row of the digit boxes they hold: two or more digits inside
    (outscoring it unless ``any_score``), no held non-digit outscoring it, the held digits covering
    :data:`GROUP_COVER` of its area."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    digits = np.array([is_digit(int(i)) for i in class_ids], dtype=bool)
    holds = (inside_share(boxes, boxes) > threshold) & (area[None, :] > area[:, None])  # [i, j]: i inside j
    stronger = holds & (scores[:, None] > scores[None, :])
    held_digits = holds & digits[:, None]
    counted = held_digits if any_score else stronger & digits[:, None]
    row = (~digits) & (counted.sum(axis=0) >= 2) & ~(stronger & ~digits[:, None]).any(axis=0)
    return np.asarray(row & ((held_digits * area[:, None]).sum(axis=0) >= GROUP_COVER * area))


def patch(rule: str) -> None:
    """Make every :class:`Detector` use ``rule`` for containment."""

    def patched(
        boxes: Any,
        threshold: float,
        scores: Any = None,
        class_ids: Any = None,
        name_probs: Any = None,
    ) -> Any:
        mask = contained(boxes, threshold, scores, class_ids, name_probs)
        if rule == "shipped" or scores is None or class_ids is None or len(boxes) < 3:
            return mask
        boxes, scores, class_ids = np.asarray(boxes), np.asarray(scores), np.asarray(class_ids)
        rows = rows_in_others(boxes, threshold, scores, class_ids, any_score=rule == "count")
        if not rows.any():
            return mask
        # the rows go; what they held is judged again without them (it may still be a part of another box)
        others = ~rows
        again = contained(
            boxes[others], threshold, scores[others], class_ids[others], _subset(name_probs, others)
        )
        mask = np.asarray(mask).copy()
        mask[rows] = True
        mask[others] = again
        return mask

    detector_module.contained = patched


def _subset(values: Any, keep: NDArray[np.bool_]) -> Any:
    return None if values is None else np.asarray(values)[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--split", default="val")
    add_mouse_arguments(parser)
    parser.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.mouse:
        read_variants(args.mouse, args.n, args.seed, [(rule, partial(patch, rule)) for rule in args.rules])
        return
    if args.data is None:
        parser.error("--data or --mouse")
    samples = load_split(args.data, args.split).samples
    for rule in args.rules:
        patch(rule)
        report = evaluate(Detector.from_weights(None, device="cpu"), samples, progress=False)
        print(
            f"{rule}: numbers {report.number_correct} of {report.number_images}, single-digit top-1 "
            f"{report.single_digit_correct}, wrong class {report.wrong_class}, false positives "
            f"{report.false_positives}, missed {report.missed}, `other` taken for a digit "
            f"{report.other_taken_for_digit} of {report.other_boxes}",
            flush=True,
        )


if __name__ == "__main__":
    main()

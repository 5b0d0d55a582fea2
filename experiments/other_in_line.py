"""An `other` in a line of digits read as its runner-up digit: the lone-digit rule, in a number.

    .venv/bin/python experiments/other_in_line.py --data data/val2 --split val --probabilities 0.2 0.3 0.4

Of the digits the namer misnames on true boxes, `0`, `1` and `8` named `other` are among the commonest
(``namer_confusions.py``). On a lone drawing the weights read an `other` whose runner-up digit has at least
``lone_digit_min_probability`` as that digit (``second_stage.lone_other_as_digit``). This asks whether the
same holds for a box that sits in a line with two or more shown digits (``reading.group_lines``) and is
about as tall as they are (``HEIGHT_RATIO`` of their median height either way), for each ``--probabilities``
P. Every :class:`Detector` of the process is patched (evaluation builds its own), and the split is
evaluated as ``eval`` does; P ``none`` is the shipped pipeline.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector, LoneLook
from digit_detector.evaluation.scoring import evaluate
from digit_detector.reading import group_lines
from digit_detector.results import Detection

HEIGHT_RATIO = 1.4  # an `other` this much taller or shorter than its line's digits is left as it is
SHIPPED_SHOWN = Detector.shown


def in_line_as_digit(
    detections: list[Detection], class_names: tuple[str, ...], min_probability: float
) -> list[Detection]:
    """``detections`` with each `other` that sits in a line of two or more digits, about as tall as they
    are, named its runner-up digit when the namer gives it at least ``min_probability``."""
    if len(detections) < 3:
        return detections
    boxes = np.asarray([d.box for d in detections], np.float64)
    out = list(detections)
    for line in group_lines(boxes):
        digits = [i for i in line if is_digit(detections[i].class_id)]
        if len(digits) < 2:
            continue
        height = float(np.median(boxes[digits, 3] - boxes[digits, 1]))
        for i in line:
            d = detections[i]
            own = d.box[3] - d.box[1]
            if d.label != "other" or d.runner_up is None or d.runner_up_score is None or not d.objectness:
                continue
            if not (d.runner_up.isdigit() and 1 / HEIGHT_RATIO <= own / height <= HEIGHT_RATIO):
                continue
            if d.runner_up_score / d.objectness < min_probability:
                continue
            out[i] = replace(
                d,
                label=d.runner_up,
                class_id=class_names.index(d.runner_up),
                score=d.runner_up_score,
                runner_up=d.label,
                runner_up_score=d.score,
            )
    return out


def read_others_in_lines(min_probability: float | None) -> None:
    """Patch :meth:`Detector.shown` to apply :func:`in_line_as_digit` (None: the shipped one)."""
    if min_probability is None:
        Detector.shown = SHIPPED_SHOWN  # type: ignore[method-assign]
        return

    def shown(
        self: Detector, detections: list[Detection], containment: float | None, look: LoneLook | None = None
    ) -> list[Detection]:
        kept = SHIPPED_SHOWN(self, detections, containment, look)
        return in_line_as_digit(kept, self.class_names, min_probability)

    Detector.shown = shown  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--probabilities", nargs="+", default=["none", "0.2", "0.3", "0.4"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_split(args.data, args.split).samples
    for text in args.probabilities:
        read_others_in_lines(None if text == "none" else float(text))
        report = evaluate(Detector.from_weights(None, device="cpu"), samples, progress=False)
        print(
            f"P {text}: numbers {report.number_correct} of {report.number_images}, single-digit top-1 "
            f"{report.single_digit_correct}, wrong class {report.wrong_class}, `other` taken for a digit "
            f"{report.other_taken_for_digit} of {report.other_boxes}",
            flush=True,
        )


if __name__ == "__main__":
    main()

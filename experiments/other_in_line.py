"""An `other` in a line of digits read as its runner-up digit: the lone-digit rule, in a number (shipped in
package 4.16.0 at the lone-digit rule's probability, ``second_stage.others_in_lines_as_digits``).

    .venv/bin/python experiments/other_in_line.py --data data/val2 --split val --probabilities none 0.2 0.25

Of the digits the namer misnames on true boxes, `0`, `1` and `8` named `other` are among the commonest
(``namer_confusions.py``). On a lone drawing the weights read an `other` whose runner-up digit has at least
``lone_digit_min_probability`` as that digit (``second_stage.lone_other_as_digit``). This asks whether the
same holds for a box that sits in a line with two or more shown digits (``reading.group_lines``) and is
about as tall as they are (``IN_LINE_HEIGHT_RATIO`` of their median height either way), for each
``--probabilities`` P. Every :class:`Detector` of the process is patched (evaluation builds its own), and
the split is evaluated as ``eval`` does; P ``none`` is package 4.15.0's pipeline (no such rule).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from digit_detector import detector as detector_module
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.results import Detection

SHIPPED_RULE = detector_module.others_in_lines_as_digits


def read_others_in_lines(min_probability: float | None) -> None:
    """Make every :class:`Detector` read an `other` in a line of digits at ``min_probability`` (None: never,
    as package 4.15.0 did), by patching the rule the detector module calls."""

    def rule(detections: list[Detection], class_names: Sequence[str], _: float | None) -> list[Detection]:
        return SHIPPED_RULE(detections, class_names, min_probability)

    detector_module.others_in_lines_as_digits = rule  # type: ignore[assignment]


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

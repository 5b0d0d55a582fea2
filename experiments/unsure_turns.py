"""A second look that turns the crop too: an unsure box named again from crops turned by a few degrees.

    .venv/bin/python experiments/unsure_turns.py --data data/synth --split val --degrees 10

The shipped second look (``second_stage.name_probabilities``) names a box whose best probability is under
``decode.SURE_NAME`` again from the crops of ``UNSURE_LOOKS`` and averages the answers. This adds
crops of the box turned by +-``--degrees`` (``row_angle.turned_input``) to that average (``--lone-only``:
only on canvases with one box found) and evaluates the shipped weights as ``eval`` does, with and without.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from row_angle import turned_input

import digit_detector.detector as detector_module
from digit_detector.data.yolo_format import load_split, split_breakdowns
from digit_detector.decode import SURE_NAME
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.naming import classifiers_of, input_ink
from digit_detector.second_stage import name_probabilities

SHIPPED = name_probabilities


def with_turns(degrees: list[float], lone_only: bool) -> Any:
    def named(namer: Any, batch: Any, boxes: Any) -> Any:
        probs = SHIPPED(namer, batch, boxes)
        if not len(boxes) or (lone_only and len(boxes) != 1):
            return probs
        first = namer(batch, boxes, np.zeros(len(boxes), dtype=np.int64))
        unsure = torch.nonzero(first.max(dim=1).values < SURE_NAME).flatten()
        if not len(unsure):
            return probs
        (classifier,) = classifiers_of(namer.module.namer)
        with torch.inference_mode():
            ink = input_ink(torch.as_tensor(batch))
            looks = [
                classifier(
                    turned_input(
                        ink,
                        torch.as_tensor(boxes)[unsure].float(),
                        torch.full((len(unsure),), math.radians(d)),
                        classifier.config,
                    )
                ).softmax(-1)
                for d in degrees
            ]
        shipped_looks = 3  # the box and its two scaled crops, already averaged in probs
        probs = probs.clone()
        probs[unsure] = (probs[unsure] * shipped_looks + sum(looks)) / (shipped_looks + len(looks))
        return probs

    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--degrees", type=float, nargs="+", default=[-10.0, 10.0])
    parser.add_argument("--lone-only", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_split(args.data, args.split).samples
    breakdowns = split_breakdowns(args.data, args.split)
    detector_module.name_probabilities = with_turns(args.degrees, args.lone_only)
    report = evaluate(Detector.from_weights(None, device="cpu"), samples, **breakdowns)
    print(f"turned {args.degrees} lone_only={args.lone_only}:")
    print("\n".join(report.summary_lines()))


if __name__ == "__main__":
    main()

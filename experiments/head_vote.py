"""The detector head's class probabilities as a second vote on each box's name (a diagnostic, not shipped).

With a namer, the detector's own class head is computed for every box and then ignored. This replays the
shipped pipeline with each box's namer probabilities multiplied by the head's raised to ``--weight``
(renormalised): a product of the two experts, at no inference cost. Everything else (thresholds, rules)
is as shipped; prints the evaluation summary per weight.

    .venv/bin/python experiments/head_vote.py --data data/synth --split val --weights 0 0.25 0.5 1
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

import digit_detector.detector as detector_module
from digit_detector.boxes import is_tensor
from digit_detector.data.yolo_format import load_split, split_breakdowns
from digit_detector.decode import RawDetections
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate

SHIPPED_NAME_BOXES = detector_module.name_boxes


def with_head_vote(weight: float) -> Any:
    """``name_boxes`` with the namer's probabilities times the detector head's to the power ``weight``."""

    def name_boxes(found: RawDetections[Any], class_probs: Any) -> Any:
        if weight and len(class_probs):
            head = found.class_probs
            if is_tensor(head):
                class_probs = class_probs * head.clamp(min=1e-6) ** weight
                class_probs = class_probs / class_probs.sum(dim=1, keepdim=True)
            else:
                class_probs = class_probs * np.maximum(head, 1e-6) ** weight
                class_probs = class_probs / class_probs.sum(axis=1, keepdims=True)
        return SHIPPED_NAME_BOXES(found, class_probs)

    return name_boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    args = parser.parse_args()
    samples = load_split(args.data, args.split).samples
    breakdowns = split_breakdowns(args.data, args.split)
    detector = Detector.from_weights(device="cpu")
    for weight in args.weights:
        detector_module.name_boxes = with_head_vote(weight)
        report = evaluate(detector, samples, **breakdowns)
        print(f"--- head weight {weight}")
        print("\n".join(report.summary_lines()))


if __name__ == "__main__":
    main()

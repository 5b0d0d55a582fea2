"""A second look that turns the crop too: an unsure box named again from crops turned by a few degrees, in
the whole reading, each set of angles against the shipped looks with the sign test of `paired_reading.py`.

    .venv/bin/python experiments/unsure_turns.py --data data/val2:val data/val3:val --degrees "-10 10" "-6 6"

The shipped second look (``second_stage.name_probabilities``) names a box whose best answer is under
``decode.SURE_NAME`` again from the crops of ``UNSURE_LOOKS`` (``THIN_BOX_LOOKS`` for a thin box) and
averages the answers. Each ``--degrees`` set adds crops of the box turned by those angles
(``row_angle.turned_input``, with the namer's box channel) to that average; ``--thin-too`` turns thin boxes
as well (by default they keep their two looks). Package 4.4.0 measured turns against its two scaled looks,
before the namer rejected (+1 / -1 numbers); package 4.28.1 against the six looks of 4.28.0.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import torch
from paired_reading import load_samples, readings, report
from row_angle import turned_input

import digit_detector.detector as detector_module
from digit_detector.detector import Detector, ImageInput
from digit_detector.naming import classifiers_of, input_ink
from digit_detector.results import DetectionResult
from digit_detector.second_stage import (
    THIN_BOX_LOOKS,
    average_looks,
    looked_boxes,
    name_probabilities,
    unsure_look_groups,
)

SHIPPED = name_probabilities


def with_turns(degrees: list[float], thin_too: bool) -> Any:
    """``name_probabilities`` with crops turned by ``degrees`` added to each unsure box's looks."""

    def named(namer: Any, batch: Any, boxes: Any) -> Any:
        first = namer(batch, boxes, np.zeros(len(boxes), dtype=np.int64))
        groups = unsure_look_groups(first, boxes)
        if not groups:
            return first
        looked = looked_boxes(boxes, groups)
        again = namer(batch, looked, np.zeros(len(looked), dtype=np.int64))
        probs = average_looks(first, again, groups)
        (classifier,) = classifiers_of(namer.module.namer)
        ink = input_ink(torch.as_tensor(batch))
        for rows, looks in groups:
            if looks is THIN_BOX_LOOKS and not thin_too:
                continue
            chosen = torch.as_tensor(boxes)[torch.from_numpy(rows)].float()
            with torch.inference_mode():
                turned = sum(
                    classifier(
                        turned_input(
                            ink, chosen, torch.full((len(rows),), math.radians(d)), classifier.config
                        )
                    ).softmax(-1)
                    for d in degrees
                )
            shown = 1 + len(looks)  # the box and its looks, already averaged in probs
            turned = turned if isinstance(probs, torch.Tensor) else turned.numpy()  # of the boxes' kind
            probs[rows] = (probs[rows] * shown + turned) / (shown + len(degrees))
        return probs

    return named


class ReadWithTurns:
    """The detector reading with turned looks added (none: the shipped looks), set for each call."""

    def __init__(self, detector: Detector, degrees: list[float], thin_too: bool) -> None:
        self.detector = detector
        self.named = with_turns(degrees, thin_too) if degrees else SHIPPED

    def __call__(self, image: ImageInput) -> DetectionResult:
        detector_module.name_probabilities = self.named
        return self.detector(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="ROOT:SPLIT, read together")
    parser.add_argument("--degrees", nargs="+", required=True, help='sets of angles, e.g. "-10 10"')
    parser.add_argument("--thin-too", action="store_true", help="turn thin boxes too")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(None, device="cpu")
    samples, sets = load_samples(args.data)
    angle_sets = [[float(d) for d in spec.split()] for spec in args.degrees]
    readers = [ReadWithTurns(detector, [], False)] + [
        ReadWithTurns(detector, a, args.thin_too) for a in angle_sets
    ]
    numbers, singles = readings(readers, samples)
    report(["shipped looks", *(f"turned {spec}" for spec in args.degrees)], args.data, sets, numbers, singles)


if __name__ == "__main__":
    main()

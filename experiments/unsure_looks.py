"""Which looks at an unsure box read the most numbers? The shipped weights read the same canvases with each
set of looks (`second_stage.UNSURE_LOOKS`: the extra crops a box the namer is unsure of is named again
from, the answers averaged), each against the first set, with the sign test of `paired_reading.py`.

    .venv/bin/python experiments/unsure_looks.py --data data/val2:val data/val3:val \
        --looks "0.9 1.1" "0.85 1.15" "0.85 1.15 1,0.06,0 1,-0.06,0 1,0,0.06 1,0,-0.06"

A look is ``SCALE`` or ``SCALE,DX,DY``: the box scaled about its centre, then moved by DX and DY times its
longer side (`second_stage.CropLook`). A set ending in ``@P`` looks again at boxes whose best probability is
under P instead of `decode.SURE_NAME` (``"0.85 1.15 @0.9"``). A set holding ``geometric`` pools the box's
answers with its looks' by their geometric mean instead of the mean, ``half-first`` weighs the box's own
answer as much as all its looks together (``"0.85 1.15 1,0.06,0 1,-0.06,0 1,0,0.06 1,0,-0.06 geometric"``).
A thin box (`second_stage.THIN_BOX_ASPECT`) keeps `second_stage.THIN_BOX_LOOKS` in every set.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from paired_reading import load_samples, readings, report

from digit_detector import second_stage
from digit_detector.decode import SURE_NAME
from digit_detector.detector import Detector, ImageInput
from digit_detector.results import DetectionResult
from digit_detector.second_stage import CropLook, LookGroups, looks_by_group

SHIPPED_POOLING = second_stage.average_looks


def geometric_looks(first: Any, again: Any, groups: LookGroups) -> Any:
    """The box's answers and its looks' pooled by their geometric mean, renormalised (tensors)."""
    averaged = first.clone()
    for rows, answers in looks_by_group(again, groups):
        mean = torch.cat((first[rows][None], answers)).clamp(min=1e-6).log().mean(0).exp()
        averaged[rows] = mean / mean.sum(dim=1, keepdim=True)
    return averaged


def half_first_looks(first: Any, again: Any, groups: LookGroups) -> Any:
    """The box's own answers weighed as much as all its looks together (tensors)."""
    averaged = first.clone()
    for rows, answers in looks_by_group(again, groups):
        averaged[rows] = (first[rows] + answers.mean(0)) / 2
    return averaged


POOLINGS: dict[str, Callable[[Any, Any, LookGroups], Any]] = {
    "geometric": geometric_looks,
    "half-first": half_first_looks,
}


class ReadWithLooks:
    """The detector reading with other unsure looks (and the probability under which a box is unsure) in
    place of the shipped ones, set for each call."""

    def __init__(self, detector: Detector, spec: str) -> None:
        items = spec.split()
        self.below = float(items.pop()[1:]) if items and items[-1].startswith("@") else SURE_NAME
        self.pooling = next((POOLINGS[item] for item in items if item in POOLINGS), SHIPPED_POOLING)
        items = [item for item in items if item not in POOLINGS]
        self.looks = tuple(CropLook(*(float(value) for value in item.split(","))) for item in items)
        self.detector = detector

    def __call__(self, image: ImageInput) -> DetectionResult:
        second_stage.UNSURE_LOOKS, second_stage.SURE_NAME = self.looks, self.below
        second_stage.average_looks = self.pooling  # type: ignore[assignment]
        return self.detector(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="ROOT:SPLIT, read together")
    parser.add_argument("--looks", nargs="+", required=True, help="sets of looks, the baseline first")
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights)
    samples, sets = load_samples(args.data)
    readers = [ReadWithLooks(detector, spec) for spec in args.looks]
    numbers, singles = readings(readers, samples)
    report(args.looks, args.data, sets, numbers, singles)


if __name__ == "__main__":
    main()

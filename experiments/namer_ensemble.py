"""Several namers averaged: does an ensemble of second stages name better than the shipped one?

    .venv/bin/python experiments/namer_ensemble.py --data data/synth --split val \
        --namers weights/yolov3-tiny.namer.safetensors runs/gpu1-namer/namer-48.safetensors \
        runs/gpu2-namer/namer-c28.safetensors runs/gpu2-namer/namer-c40.safetensors
    .venv/bin/python experiments/namer_ensemble.py --data data/synth --split test --pipeline \
        --namers runs/gpu1-namer/namer-48.safetensors runs/gpu2-namer/namer-c28.safetensors

Prints how many of the split's true boxes each namer names right and every average of two or more of
them; with ``--pipeline`` it also evaluates the shipped detector with the average of ``--namers`` in place
of its own namer (its thresholds and log-bias unchanged), as ``eval`` does (``--flips``: and counts the
numbers only one of the two reads, by how the other misreads them); ``--unsure-only`` averages only where
the first namer is unsure (best probability under ``decode.SURE_NAME``) and keeps its answer
elsewhere, so the others run on a few boxes only.
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from pathlib import Path

import torch

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import Sample, load_split, split_breakdowns
from digit_detector.decode import SURE_NAME
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.io import read_image
from digit_detector.naming import NamerEnsemble, classifiers_of, load_namer
from digit_detector.reading import failure_kind, read_number
from digit_detector.second_stage import TorchNamer
from digit_detector.training.crop_sets import canvas_crop_set
from digit_detector.training.namer import predict_crop_set


class UnsureAveragedNamer:
    """The first member's probabilities, averaged with the others' where the first is unsure."""

    def __init__(self, members: list[TorchNamer]) -> None:
        self.members = members

    def __call__(self, images: object, boxes: object, image_index: object) -> object:
        """The answers of the boxes' kind, as every namer gives them (a tensor or a numpy array)."""
        given, index = torch.as_tensor(boxes), torch.as_tensor(image_index)
        first = self.members[0](images, given, index).clone()
        unsure = torch.nonzero(first.max(dim=1).values < SURE_NAME).flatten()
        if len(unsure):
            others = [member(images, given[unsure], index[unsure]) for member in self.members[1:]]
            first[unsure] = torch.stack([first[unsure], *others]).mean(dim=0)
        return first if isinstance(boxes, torch.Tensor) else first.numpy()


def print_flips(shipped: Detector, averaged: Detector, samples: list[Sample]) -> None:
    """The canvases with two or more digits that one of the two detectors reads and the other does not,
    counted by how the other misreads them (``reading.failure_kind``)."""
    gained: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for sample in samples:
        class_ids = [int(c) for c in sample.class_ids]
        if sum(is_digit(c) for c in class_ids) < 2:
            continue
        expected = read_number(class_ids, sample.boxes_xyxy)
        image = read_image(sample.image_path)
        before, after = shipped(image).number, averaged(image).number
        if before != expected and after == expected:
            gained[failure_kind(expected, before)] += 1
        elif before == expected and after != expected:
            lost[failure_kind(expected, after)] += 1
    print(
        f"read by the average only ({sum(gained.values())}); the shipped namer's misreadings: {dict(gained)}"
    )
    print(f"read by the shipped namer only ({sum(lost.values())}); the average's misreadings: {dict(lost)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--namers", type=Path, nargs="+", required=True)
    parser.add_argument("--pipeline", action="store_true", help="also evaluate the detector with the average")
    parser.add_argument(
        "--flips", action="store_true", help="with --pipeline: numbers one detector reads and the other not"
    )
    parser.add_argument("--unsure-only", action="store_true", help="average only where the first is unsure")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    crops = canvas_crop_set(args.data, args.split, progress=False)
    probs = {str(path): predict_crop_set(load_namer(path)[0], crops) for path in args.namers}
    for size in range(1, len(probs) + 1):
        for names in itertools.combinations(probs, size):
            average = torch.stack([probs[name] for name in names]).mean(dim=0)
            right = float((average.argmax(dim=1) == crops.labels).float().mean())
            print(f"{' + '.join(names)}: {right:.2%} of {len(crops)} true boxes named right")
            if size > 1:
                first = probs[names[0]]
                unsure = first.max(dim=1).values < SURE_NAME
                mixed = torch.where(unsure[:, None], average, first)
                right = float((mixed.argmax(dim=1) == crops.labels).float().mean())
                print(f"  only where {names[0]} is unsure ({int(unsure.sum())} boxes): {right:.2%}")
    if args.pipeline:
        detector = Detector.from_weights(device="cpu")
        cpu = torch.device("cpu")
        namers = [classifier for path in args.namers for classifier in classifiers_of(load_namer(path)[0])]
        if args.unsure_only:
            detector.namer = UnsureAveragedNamer([TorchNamer(namer, cpu) for namer in namers])
        else:
            detector.namer = TorchNamer(NamerEnsemble(namers), cpu)
        samples = load_split(args.data, args.split).samples
        report = evaluate(detector, samples, **split_breakdowns(args.data, args.split))
        print("\n".join(report.summary_lines()))
        if args.flips:
            print_flips(Detector.from_weights(device="cpu"), detector, samples)


if __name__ == "__main__":
    main()

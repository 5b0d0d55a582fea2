"""Is a candidate's difference in numbers read more than noise? Each canvas read by the baseline and by each
candidate, the same canvases: how many each reads that the other does not, and the exact two-sided sign
test (McNemar's) on those discordant canvases.

    .venv/bin/python experiments/paired_reading.py --data data/synth:val data/val2:val \
        --weights weights/yolov3-tiny.safetensors runs/gpu-plain/yolov3-tiny.safetensors

The first ``--weights`` is the baseline. A canvas counts for numbers when it holds two digits or more and
for single digits when it holds one digit alone, as `eval` counts them (`evaluation.scoring.read_canvas`,
on the pipeline the app runs: `Detector.from_weights` and its own thresholds). Two candidates that differ
by a few numbers differ on many canvases both ways; the p-value says how often chance alone would split
the discordant canvases at least that unevenly. ``--precisions`` reads each weights in its own precision
(``--weights W W --precisions float32 bfloat16``: what bfloat16 changes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from math import comb
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector, ImageInput
from digit_detector.devices import PRECISIONS
from digit_detector.evaluation.scoring import read_canvas
from digit_detector.io import read_image
from digit_detector.results import DetectionResult

# what reads a canvas: an image -> the detections shown (a Detector, or one with other reading rules)
Reader = Callable[[ImageInput], DetectionResult]


def sign_test_p(gained: int, lost: int) -> float:
    """Exact two-sided binomial p-value of ``gained`` against ``lost`` discordant canvases (p = 0.5)."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def readings(readers: Sequence[Reader], samples: list[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """Per reader and canvas (rows, columns): number read exactly and single digit named right (-1 where
    the canvas is neither). Each canvas is read from disk once for all the readers."""
    numbers = np.full((len(readers), len(samples)), -1, dtype=np.int8)
    singles = np.full((len(readers), len(samples)), -1, dtype=np.int8)
    for index, sample in enumerate(tqdm(samples, unit="img")):
        gt_ids = [int(c) for c in np.asarray(sample.class_ids).reshape(-1)]
        gt_boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        image = read_image(sample.image_path)
        for row, reader in enumerate(readers):
            reading = read_canvas(gt_ids, gt_boxes, reader(image))
            if reading.number_ok is not None:
                numbers[row, index] = int(reading.number_ok)
            if reading.single_ok is not None:
                singles[row, index] = int(reading.single_ok)
    return numbers, singles


def load_samples(specs: Sequence[str]) -> tuple[list[Sample], list[str]]:
    """The canvases of every ``ROOT:SPLIT`` in ``specs``, and the spec each came from."""
    samples: list[Sample] = []
    sets: list[str] = []
    for spec in specs:
        root, _, split = spec.rpartition(":")
        found = load_split(Path(root), split).samples
        samples += found
        sets += [spec] * len(found)
    return samples, sets


def report(
    names: Sequence[str], specs: Sequence[str], sets: list[str], numbers: np.ndarray, singles: np.ndarray
) -> None:
    """Each candidate (rows after the first) against the baseline (the first row), overall and per set."""
    in_set = {spec: np.array([name == spec for name in sets]) for spec in specs}
    for row, name in enumerate(names[1:], start=1):
        print(f"== {name}")
        print(compare("numbers read exactly", numbers[0], numbers[row]))
        print(compare("single digits named right", singles[0], singles[row]))
        if len(specs) > 1:
            for spec, columns in in_set.items():
                print(compare(f"  {spec} numbers", numbers[0, columns], numbers[row, columns]))


def compare(name: str, base: np.ndarray, other: np.ndarray) -> str:
    counted = base >= 0
    gained = int(((other == 1) & (base == 0)).sum())
    lost = int(((other == 0) & (base == 1)).sum())
    return (
        f"{name}: {int((other == 1).sum())} of {int(counted.sum())} (baseline {int((base == 1).sum())}), "
        f"+{gained} / -{lost} canvases, sign test p = {sign_test_p(gained, lost):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="ROOT:SPLIT, read together")
    parser.add_argument("--weights", type=Path, nargs="+", required=True, help="baseline first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        default=None,
        help="the PyTorch networks' precision for each --weights, in order (default: auto for all)",
    )
    args = parser.parse_args()
    precisions = args.precisions or [None] * len(args.weights)
    if len(precisions) != len(args.weights):
        parser.error("give one --precisions entry per --weights")
    torch.set_num_threads(args.threads)
    samples, sets = load_samples(args.data)
    readers = [
        Detector.from_weights(path, precision=precision)
        for path, precision in zip(args.weights, precisions, strict=True)
    ]
    numbers, singles = readings(readers, samples)
    pairs = zip(args.weights, precisions, strict=True)
    names = [f"{path} ({precision or 'auto'})" for path, precision in pairs]
    report(names, args.data, sets, numbers, singles)


if __name__ == "__main__":
    main()

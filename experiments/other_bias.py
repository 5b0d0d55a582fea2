"""How a log-prior on the second stage's `other` class trades `other` taken for a digit against digit naming.

    python experiments/other_bias.py --data data/synth --split val [--biases 0 0.25 0.5 0.75 1.0]

Runs the full evaluation once per bias value (the detector and its boxes are the same; only the naming
changes) and prints one table row per value. ``--reading-only`` runs the detector as shipped once per
canvas and bias instead (a few times faster): single-digit top-1, numbers read exactly and `other` taken
for a digit (an `other` whose best-overlapping detection, IoU >= 0.5, is named a digit), no mAP.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from digit_detector.boxes import box_iou
from digit_detector.classes import OTHER_ID, is_digit
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.reading import read_number


def reading_figures(detector: Detector, samples: list[Sample]) -> tuple[float, float, float]:
    """(`other` taken for a digit, single-digit top-1, numbers read exactly) as the detector shows them."""
    single = single_ok = numbers = numbers_ok = others = others_as_digit = 0
    for sample in samples:
        ids = [int(c) for c in sample.class_ids]
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        result = detector(sample.image_path)
        if len(ids) == 1 and is_digit(ids[0]):
            single += 1
            single_ok += bool(result.detections) and result.detections[0].class_id == ids[0]
        if sum(is_digit(c) for c in ids) >= 2:
            numbers += 1
            numbers_ok += result.number == read_number(ids, truth)
        other_rows = [i for i, c in enumerate(ids) if c == OTHER_ID]
        others += len(other_rows)
        if other_rows and result.detections:
            overlaps = box_iou(truth[other_rows], np.array([d.box for d in result.detections]))
            for row in overlaps:
                best = int(row.argmax())
                others_as_digit += row[best] >= 0.5 and is_digit(result.detections[best].class_id)
    return others_as_digit / max(others, 1), single_ok / max(single, 1), numbers_ok / max(numbers, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="weights (default: the shipped model)")
    parser.add_argument("--limit", type=int, default=0, help="first N canvases only (0: all)")
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--reading-only", action="store_true", help="reading figures only (no mAP): faster")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    detector = Detector.from_weights(args.weights, device="cpu")
    samples = load_split(args.data, args.split).samples[: args.limit or None]
    print("| other log-bias | other -> digit | single-digit top-1 | numbers exact | mAP@0.5 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for bias in args.biases:
        if args.reading_only:
            detector.namer_log_bias[OTHER_ID] = bias
            other_rate, top1, numbers = reading_figures(detector, samples)
            print(f"| {bias:.2f} | {other_rate:.3f} | {top1:.3f} | {numbers:.3f} | - |", flush=True)
            continue
        # evaluation builds its detectors from the metadata, so the bias goes there
        detector.metadata.namer_log_bias = {"other": bias} if bias else {}
        report = evaluate(detector, samples, progress=False)
        print(
            f"| {bias:.2f} | {report.other_taken_rate:.3f} | {report.single_digit_top1:.3f} "
            f"| {report.number_accuracy:.3f} | {report.map50:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

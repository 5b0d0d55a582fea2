"""How a log-prior on the second stage's `other` class trades `other` taken for a digit against digit naming.

    python experiments/other_bias.py --data data/synth --split val [--biases 0 0.25 0.5 0.75 1.0]

Runs the full evaluation once per bias value (the detector and its boxes are the same; only the naming
changes) and prints one table row per value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None, help="weights (default: the shipped model)")
    parser.add_argument("--limit", type=int, default=0, help="first N canvases only (0: all)")
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    detector = Detector.from_weights(args.weights, device="cpu")
    samples = load_split(args.data, args.split).samples[: args.limit or None]
    print("| other log-bias | other -> digit | single-digit top-1 | numbers exact | mAP@0.5 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for bias in args.biases:
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

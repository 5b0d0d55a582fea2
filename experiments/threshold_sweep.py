"""What the objectness (or score) threshold trades: reading figures at several thresholds from one pass.

    .venv/bin/python experiments/threshold_sweep.py --weights runs/v9/yolov3-tiny.safetensors \
        --data data/synth --split val --thresholds 0.4 0.5 0.6 0.7 0.8 0.88

Runs the detector once per image at the lowest threshold (containment on, as shipped), then keeps the
detections at or above each threshold (``Detector.threshold_value``: objectness with a second stage) and
prints single-digit top-1, numbers read exactly, `other` taken for a digit, blank canvases with a detection,
F1 and the lowest size/pen bucket recall for each. Containment is applied at the lowest threshold, so the
figures can differ slightly from an evaluation at each threshold.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from digit_detector.data.yolo_format import load_split, object_pen_widths
from digit_detector.detector import Detector
from digit_detector.evaluation.predictions import predict_samples
from digit_detector.evaluation.scoring import report_from_predictions
from digit_detector.evaluation.thresholds import shown_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--thresholds", type=float, nargs="+", required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(args.weights, device="cpu")
    samples = load_split(args.data, args.split).samples[: args.limit]
    detector.score_threshold = min(args.thresholds)
    predictions = predict_samples(detector, samples)
    pens = object_pen_widths(args.data, args.split)
    print("| threshold | top-1 | numbers | other->digit | blank | F1 | lowest bucket found |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for threshold in sorted(args.thresholds):
        kept = shown_at(detector, predictions, threshold)
        detector.score_threshold = threshold
        report = report_from_predictions(detector, kept, pens=pens)
        print(
            f"| {threshold:g} | {report.single_digit_top1:.3f} | {report.number_accuracy:.3f} | "
            f"{report.other_taken_rate:.3f} | {report.blank_with_detection} | {report.f1:.3f} | "
            f"{report.lowest_bucket_recall:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

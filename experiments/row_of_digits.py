"""A row of digits read as one `other` box: measure the name-aware containment rule on a split.

    .venv/bin/python experiments/row_of_digits.py --data data/synth --split val

Runs the shipped detector once per image, then shows each image's low-threshold named detections at the
detector's own thresholds two ways: containment by boxes alone (``decode.contained`` without scores, the
rule before package 4.3.0), and with the names (:func:`contained_by_names`: a larger non-digit box holding
two or more digits is dropped instead of the digits). Prints the reading figures of both. The rule shipped
since 4.3.0 (scores, cover and names; ``Detector.drop_contained``) is what ``eval`` measures.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split, object_pen_widths
from digit_detector.decode import contained
from digit_detector.detector import Detector
from digit_detector.evaluation.predictions import ImagePrediction, predict_samples
from digit_detector.evaluation.scoring import report_from_predictions
from digit_detector.reading import read_number


def contained_by_names(
    boxes: NDArray[np.float32], threshold: float, digits: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """``decode.contained``, except that a larger non-digit box holding two or more digits is dropped
    instead of them (a row of digits read as one `other`)."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    top_left = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    overlap = np.maximum(bottom_right - top_left, 0)
    inside = overlap[..., 0] * overlap[..., 1] / np.maximum(area[:, None], 1e-9)
    covered = (inside > threshold) & (area[None, :] > area[:, None])  # [i, j]: i lies inside the larger j
    holders = ~digits & ((covered & digits[:, None]).sum(axis=0) >= 2)
    covered[np.ix_(digits, holders)] = False
    return np.asarray(covered.any(axis=1) | holders)


def shown(detector: Detector, prediction: ImagePrediction, by_names: bool) -> ImagePrediction:
    kept = [d for d in prediction.agnostic if detector.threshold_value(d) >= detector.score_threshold]
    if len(kept) > 1 and detector.containment_threshold is not None:
        found = np.array([d.box for d in kept], np.float32)
        digits = np.array([is_digit(d.class_id) for d in kept])
        threshold = detector.containment_threshold
        drop = (
            contained_by_names(found, threshold, digits) if by_names else contained(found, threshold)
        ).tolist()
        kept = [d for d, dropped in zip(kept, drop, strict=True) if not dropped]
    boxes = np.asarray([d.box for d in kept], dtype=np.float64).reshape(-1, 4)
    number = read_number([d.class_id for d in kept], boxes)
    return replace(prediction, result=replace(prediction.result, detections=kept, number=number))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    samples = load_split(args.data, args.split).samples[: args.limit]
    predictions = predict_samples(detector, samples)
    pens = object_pen_widths(args.data, args.split)
    print(
        "| containment | top-1 | numbers | other->digit | blank | F1 | correct / wrong / false pos. / miss |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, by_names in (("boxes alone (shipped)", False), ("with names", True)):
        report = report_from_predictions(
            detector, [shown(detector, p, by_names) for p in predictions], pens=pens
        )
        counts = (
            f"{report.true_positives} / {report.wrong_class} / {report.false_positives} / {report.missed}"
        )
        print(
            f"| {name} | {report.single_digit_top1:.3f} | {report.number_accuracy:.3f} | "
            f"{report.other_taken_rate:.3f} | {report.blank_with_detection} | {report.f1:.3f} | {counts} |",
            flush=True,
        )


if __name__ == "__main__":
    main()

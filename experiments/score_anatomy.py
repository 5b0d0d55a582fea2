"""Why the detector misses objects: objectness or class probability? (A diagnostic, not a test.)

Part 1: for every true box of the first ``--images`` canvases of a split, the candidate (before any
threshold) overlapping it at IoU >= 0.5 with the best score for the box's class; boxes whose best score is
under the weights' threshold are grouped by that score, with the median objectness and the median
probability of the true class. Part 2 (``--beta``): the shipped scoring ``objectness x class probability``
against ``objectness x class probability ** beta``, thresholds re-chosen on validation as ``train`` does,
scored on the test split.

    python experiments/score_anatomy.py --data data/synth [--images 800] [--beta 0.5 0.25]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from digit_detector.data.yolo_format import digit_sources, load_split
from digit_detector.detector import Backend, Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.evaluation.thresholds import choose_thresholds
from digit_detector.io import read_image
from digit_detector.preprocess import letterbox, to_rgb

SCORE_BANDS = ((0.0, 0.3), (0.3, 0.5), (0.5, None))  # None: up to the weights' score threshold


class ClassPower:
    """A backend whose class probabilities are raised to ``beta`` (argmax unchanged, scores re-weighted)."""

    def __init__(self, backend: Backend, beta: float) -> None:
        self.backend, self.beta = backend, beta

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        decoded = self.backend(batch).clone()
        decoded[..., 5:] = decoded[..., 5:] ** self.beta
        return decoded


def miss_anatomy(detector: Detector, root: Path, split: str, images: int) -> None:
    size = detector.metadata.model.input_size
    rows = []  # (best score, its objectness, its true-class probability)
    for sample in load_split(root, split).samples[:images]:
        image = to_rgb(read_image(sample.image_path))
        _, transform = letterbox(image, size)
        decoded = detector.decode_batch([image])[0]
        truth = torch.from_numpy(transform.to_input(sample.boxes_xyxy).astype(np.float32)).reshape(-1, 4)
        overlaps = box_iou(truth, decoded[:, :4]) >= 0.5 if len(truth) else torch.zeros(0, len(decoded))
        for index, class_id in enumerate(np.asarray(sample.class_ids).reshape(-1).tolist()):
            near = decoded[overlaps[index]]
            if len(near) == 0:
                rows.append((0.0, 0.0, 0.0))
                continue
            scores = near[:, 4] * near[:, 5 + class_id]
            best = int(scores.argmax())
            rows.append((float(scores[best]), float(near[best, 4]), float(near[best, 5 + class_id])))
    table = np.asarray(rows)
    threshold = detector.score_threshold
    found = table[:, 0] >= threshold
    print(f"{len(table)} true boxes; {int((~found).sum())} have no candidate of their class >= {threshold}")
    objectness, class_probability = np.median(table[found, 1]), np.median(table[found, 2])
    print(f"found ones: median objectness {objectness:.3f}, true-class probability {class_probability:.3f}")
    for low, high in SCORE_BANDS:
        top = threshold if high is None else high
        band = (table[:, 0] >= low) & (table[:, 0] < top) & (table[:, 0] > 0)
        if band.any():
            objectness, class_probability = np.median(table[band, 1]), np.median(table[band, 2])
            print(
                f"best score {low:.2f}-{top:.2f}: {int(band.sum())} boxes, median objectness "
                f"{objectness:.2f}, median true-class probability {class_probability:.2f}"
            )
    print(f"no candidate at IoU >= 0.5: {int((table[:, 0] == 0).sum())}")


def class_power_tradeoff(detector: Detector, root: Path, betas: list[float]) -> None:
    validation = load_split(root, "val").samples
    test = load_split(root, "test").samples
    for beta in [1.0, *betas]:
        reweighted = Detector(ClassPower(detector.backend, beta), detector.metadata)
        score, containment = choose_thresholds(reweighted, validation)
        report = evaluate(reweighted, test, sources=digit_sources(root, "test"), progress=False)
        figures = {
            "F1": report.f1,
            "top-1": report.single_digit_top1,
            "numbers": report.number_accuracy,
            "other taken for a digit": report.other_taken_rate,
            "mAP@0.5": report.map50,
        }
        shown = ", ".join(f"{name} {'n/a' if v is None else f'{v:.3f}'}" for name, v in figures.items())
        print(f"beta {beta:g}: score {score:.2f}, containment {containment} | {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=800)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--beta", type=float, nargs="*", default=[], help="class-probability powers to try")
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(args.weights)
    miss_anatomy(detector, args.data, args.split, args.images)
    if args.beta:
        class_power_tradeoff(detector, args.data, args.beta)


if __name__ == "__main__":
    main()

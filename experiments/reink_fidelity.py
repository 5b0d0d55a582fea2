"""How much of an MNIST digit's identity survives the data engine's re-inking (a diagnostic, not a test).

Two arms with the same crop CNN as the label audit (``digit_detector.audit.report``), each trained on the
8,000 MNIST digits the split rule allows for training and validation and scored on the 2,000 reserved ones:

- ``original``: the 28x28 MNIST images as they are;
- ``re-inked``: each digit traced to centre lines and redrawn as the canvases draw it (``ObjectFactory``:
  the same slant, stretch, bend, tremor, and a pen width and height sampled as the composer samples them).

The ``original`` arm is the ceiling the split rule leaves a small classifier; the gap to the ``re-inked``
arm is what tracing and redrawing cost. Digits too blobby to trace are left out of the re-inked arm (the
engine draws another digit instead) and counted.

    python experiments/reink_fidelity.py [--epochs 12] [--crop 32] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from numpy.typing import NDArray

from digit_detector.audit.classifier import (
    AuditConfig,
    CropCNN,
    cut_crop,
    predict_proba,
    to_tensor,
    train_classifier,
)
from digit_detector.data import sources
from digit_detector.data.compose import ComposeConfig, log_uniform, min_height_for, sample_pen_width
from digit_detector.data.objects import ObjectFactory
from digit_detector.data.strokes import render_strokes

MAX_HEIGHT = 160.0  # px on the 400 px canvas: the range most single digits are drawn at


def ink_crop(gray: NDArray[np.uint8], crop: int) -> NDArray[np.uint8]:
    """Dark-ink-on-white ``gray`` cut to its ink's box (with the audit's margin) and fitted on a square."""
    rows, cols = np.nonzero(gray < 200)
    if len(rows) == 0:
        return np.full((crop, crop), 255, dtype=np.uint8)
    return cut_crop(gray, (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1), crop)


def original_crops(
    mnist: list[NDArray[np.uint8]], split: str, crop: int
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    crops, labels = [], []
    for digit, images in enumerate(mnist):
        for index in sources.mnist_split_range(len(images), split):
            crops.append(ink_crop(255 - images[index], crop))
            labels.append(digit)
    return np.stack(crops), np.asarray(labels)


def reinked_crops(
    mnist: list[NDArray[np.uint8]], split: str, crop: int, factory: ObjectFactory, rng: np.random.Generator
) -> tuple[NDArray[np.uint8], NDArray[np.int64], int]:
    """One redrawing of every digit of the split's MNIST range; also the count of untraceable ones."""
    compose = ComposeConfig()
    crops, labels, untraceable = [], [], 0
    for digit, images in enumerate(mnist):
        for index in sources.mnist_split_range(len(images), split):
            strokes = factory.mnist_strokes(digit, index)
            if not strokes:
                untraceable += 1
                continue
            pen = sample_pen_width(rng, compose)
            height = log_uniform(rng, min_height_for(pen), MAX_HEIGHT)
            ink = render_strokes(strokes, height, pen, rng, factory.digit_style())
            crops.append(ink_crop(np.rint(255 * (1 - ink)).astype(np.uint8), crop))
            labels.append(digit)
    return np.stack(crops), np.asarray(labels), untraceable


def accuracy(
    train: tuple[NDArray[np.uint8], NDArray[np.int64]],
    test: tuple[NDArray[np.uint8], NDArray[np.int64]],
    config: AuditConfig,
) -> dict[str, float]:
    generator = torch.Generator().manual_seed(config.seed)
    model = train_classifier(CropCNN(), to_tensor(train[0]), torch.from_numpy(train[1]), config, generator)
    predicted = predict_proba(model, to_tensor(test[0])).argmax(axis=1)
    correct = predicted == test[1]
    return {
        "accuracy": round(float(correct.mean()), 4),
        **{f"digit_{d}": round(float(correct[test[1] == d].mean()), 4) for d in range(10)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    start = time.perf_counter()
    config = AuditConfig(epochs=args.epochs, crop=args.crop, seed=args.seed)
    mnist = sources.load_mnist()  # read once; the factories read their own copy

    def trainval(
        parts: list[tuple[NDArray[np.uint8], NDArray[np.int64]]],
    ) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    original = accuracy(
        trainval([original_crops(mnist, "train", args.crop), original_crops(mnist, "val", args.crop)]),
        original_crops(mnist, "test", args.crop),
        config,
    )
    rng = np.random.default_rng(args.seed)
    factories = {split: ObjectFactory(split, rng) for split in ("train", "val", "test")}
    redrawn = {split: reinked_crops(mnist, split, args.crop, factories[split], rng) for split in factories}
    reinked = accuracy(trainval([redrawn["train"][:2], redrawn["val"][:2]]), redrawn["test"][:2], config)
    report = {
        "original": original,
        "re-inked": reinked,
        "untraceable": {split: redrawn[split][2] for split in redrawn},
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

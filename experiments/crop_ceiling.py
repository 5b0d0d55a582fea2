"""How well a dedicated crop classifier names the test split's objects given their true boxes.

A diagnostic for the detector's class head (not a test): the audit's crop CNN is trained on the boxes of
the first ``--train-images`` training canvases and scored on every box of the test split. If it reads the
test digits much better than the detector does on its matched boxes, the class head is the weak part; if
it also stops short of the targets, the composed digits themselves are ambiguous.

    python experiments/crop_ceiling.py --data data/synth [--train-images 12000] [--epochs 12] [--width 32]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from digit_detector.audit.classifier import (
    AuditConfig,
    CropCNN,
    extract_crops,
    predict_proba,
    to_tensor,
    train_classifier,
)
from digit_detector.classes import CLASS_NAMES, OTHER_ID
from digit_detector.data.yolo_format import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--train-images", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--width", type=int, default=32, help="channels of the CNN's first block")
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    start = time.perf_counter()
    train = load_split(args.data, "train").samples[: args.train_images]
    test = load_split(args.data, "test").samples
    x_train, train_refs = extract_crops(args.data, train, args.crop, progress=True)
    x_test, test_refs = extract_crops(args.data, test, args.crop, progress=True)
    y_train = torch.tensor([ref.given for ref in train_refs])
    y_test = np.array([ref.given for ref in test_refs])

    config = AuditConfig(epochs=args.epochs, crop=args.crop, seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = train_classifier(
        CropCNN(width=args.width),
        to_tensor(x_train),
        y_train,
        config,
        generator,
        on_epoch=lambda epoch, loss: print(f"epoch {epoch + 1}/{args.epochs}: loss {loss:.4f}", flush=True),
    )
    predicted = predict_proba(model, to_tensor(x_test)).argmax(axis=1)
    correct = predicted == y_test
    digits = y_test < 10
    per_class = {
        name: round(float(correct[y_test == c].mean()), 4)
        for c, name in enumerate(CLASS_NAMES)
        if (y_test == c).any()
    }
    report = {
        "train_boxes": len(train_refs),
        "test_boxes": len(test_refs),
        "accuracy_all": round(float(correct.mean()), 4),
        "accuracy_digits": round(float(correct[digits].mean()), 4),
        "other_taken_for_digit": round(float((predicted[y_test == OTHER_ID] < 10).mean()), 4),
        "per_class": per_class,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Namers compared on the same found boxes: objects named right, non-objects rejected, commonest confusions.

    .venv/bin/python experiments/namer_found_boxes.py --data data/synth --split val \
        --namers weights/yolov3-tiny.namer.safetensors runs/cand-gpunamer-ft/yolov3-tiny.namer.safetensors

The boxes are the ones `namer train --rejects` learns and reports (`val_found_boxes` in a namer's record):
those ``--detector`` finds down to objectness 0.1 before containment, each labelled with the class of the
true box it overlaps at IoU >= 0.5 or ``reject`` where it overlaps none by 0.4
(`training.found_boxes.proposal_crop_set`). A namer's own record measures it on its detector's boxes of its
day; this measures every namer on one detector's boxes.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import torch

from digit_detector.classes import CLASS_NAMES
from digit_detector.detector import Detector
from digit_detector.naming import load_namer
from digit_detector.training.found_boxes import proposal_crop_set
from digit_detector.training.namer import accuracy_by_kind, predict_crop_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--detector", type=Path, default=Path("weights/yolov3-tiny.safetensors"))
    parser.add_argument("--namers", type=Path, nargs="+", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    crops = proposal_crop_set([Detector.from_weights(args.detector)], args.data, args.split)
    names = [*CLASS_NAMES, "reject"]
    for path in args.namers:
        namer, _ = load_namer(path)
        probs = predict_crop_set(namer, crops)
        report = accuracy_by_kind(probs, crops)
        kinds = {
            kind: f"{value['accuracy']:.2%} of {value['boxes']}" for kind, value in report["by_kind"].items()
        }
        chosen, truth = probs.argmax(dim=1).tolist(), crops.labels.tolist()
        pairs = Counter((names[t], names[c]) for t, c in zip(truth, chosen, strict=True) if t != c)
        print(f"{path}: {kinds}; commonest (truth, name): {pairs.most_common(10)}")


if __name__ == "__main__":
    main()

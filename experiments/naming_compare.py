"""Who names the found boxes best: the detector's class head, the crop classifier, or both together?

    .venv/bin/python experiments/naming_compare.py --weights runs/v9/yolov3-tiny.safetensors \
        --data data/synth --split val

For every box the detector finds (objectness >= --objectness, class-agnostic NMS) that overlaps a true box
with IoU >= 0.5, compares the true class with the argmax of: the head's class probabilities, the namer's,
their product (geometric mean), their average and (``--head-weights``) the namer's times the head's raised
to a small power. Prints the share named right by each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--objectness", type=float, default=0.3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--head-weights", type=float, nargs="*", default=[], help="also namer x head ** w for each w"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(args.weights, device="cpu")
    assert detector.namer is not None, "these weights name no second stage"
    samples = load_split(args.data, args.split).samples[: args.limit]
    truth, head, namer = [], [], []
    for sample in tqdm(samples, desc="boxes"):
        batch, letterbox = preprocess(read_image(sample.image_path))
        found = detector.select_boxes(detector.backend(batch), args.objectness, None)[0]
        if len(found.boxes) == 0 or len(sample.class_ids) == 0:
            continue
        probs = detector.namer(batch, found.boxes, torch.zeros(len(found.boxes), dtype=torch.int64))
        ious = box_iou(letterbox.to_original(found.boxes).numpy(), np.asarray(sample.boxes_xyxy))
        for k, row in enumerate(ious):
            if row.max() >= 0.5:
                truth.append(int(sample.class_ids[int(row.argmax())]))
                head.append(found.class_probs[k].numpy())
                namer.append(probs[k].numpy())
    t, h, n = np.asarray(truth), np.stack(head), np.stack(namer)
    for name, p in {
        "class head": h,
        "namer": n,
        "product": np.sqrt(h * n),
        "average": (h + n) / 2,
        **{f"head ** {w:g}": n * h**w for w in args.head_weights},
    }.items():
        print(f"{name:>10}: {np.mean(p.argmax(1) == t):.4f} of {len(t)} matched boxes named right")


if __name__ == "__main__":
    main()

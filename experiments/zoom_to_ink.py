"""Input handling: crop each canvas to its ink (plus a margin) before the detector, same weights.

    .venv/bin/python experiments/zoom_to_ink.py --data data/synth --split val --limit 500

Writes the cropped canvases with their boxes moved into a temporary copy of the split, then evaluates the
shipped detector on the first ``--limit`` canvases of both (full canvas and zoomed to the ink). The
model was trained on full canvases, so this measures the input change alone, without retraining.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from digit_detector.data.yolo_format import Sample, load_split, write_data_yaml, write_sample
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate


def zoom_to_ink(sample: Sample, root: Path, split: str, margin: float, min_fraction: float) -> None:
    """Write ``sample`` cropped to its ink (ink box + ``margin`` of its longer side, at least
    ``min_fraction`` of the canvas's longer side) under ``root``."""
    rgb = np.asarray(Image.open(sample.image_path).convert("RGB"))
    height, width = rgb.shape[:2]
    ys, xs = np.nonzero(rgb.min(axis=2) < 128)
    x0, y0, x1, y1 = 0, 0, width, height
    if len(xs):
        x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        side = max(x1 - x0, y1 - y0)
        pad = max(margin * side, (min_fraction * max(width, height) - side) / 2, 0.0)
        x0, y0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        x1, y1 = int(min(width, x1 + pad)), int(min(height, y1 + pad))
    shift = np.array([x0, y0, x0, y0], dtype=np.float64)
    boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4) - shift
    boxes = np.clip(boxes, 0, [x1 - x0, y1 - y0, x1 - x0, y1 - y0])
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    write_sample(root, split, sample.image_path.stem, crop, np.asarray(sample.class_ids), boxes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--margin", type=float, default=0.08)
    parser.add_argument("--min-fraction", type=float, default=0.25)
    args = parser.parse_args()
    torch.set_num_threads(2)
    samples = load_split(args.data, args.split).samples[: args.limit]
    zoomed = Path(tempfile.mkdtemp())
    for sample in samples:
        zoom_to_ink(sample, zoomed, args.split, args.margin, args.min_fraction)
    write_data_yaml(zoomed)
    detector = Detector.from_weights(args.weights, device="cpu")
    for name, root in (("full canvas", args.data), ("zoomed to the ink", zoomed)):
        report = evaluate(detector, load_split(root, args.split).samples[: args.limit], progress=False)
        print(f"== {name}\n" + "\n".join(report.summary_lines()), flush=True)


if __name__ == "__main__":
    main()

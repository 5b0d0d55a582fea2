"""``data show DIR --out sheet.png``: a contact sheet of labelled samples, and class / box-size histograms."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digit_detector.classes import CLASS_NAMES
from digit_detector.data.yolo_format import Sample
from digit_detector.render import draw_boxes, grid

SIZE_BINS = (0, 16, 32, 64, 128, 256, 10_000)  # box height in image pixels


def contact_sheet(samples: list[Sample], columns: int = 6) -> Image.Image:
    tiles = []
    for sample in samples:
        with Image.open(sample.image_path) as image:
            tiles.append(draw_boxes(image, sample.boxes_xyxy, sample.class_ids.tolist()))
    return grid(tiles, columns)


def histograms(samples: list[Sample]) -> list[str]:
    """Text histograms: objects per class and box heights."""
    class_ids = np.concatenate([s.class_ids for s in samples]) if samples else np.zeros(0, dtype=np.int64)
    boxes = np.concatenate([s.boxes_xyxy for s in samples]).reshape(-1, 4) if samples else np.zeros((0, 4))
    counts = np.bincount(class_ids, minlength=len(CLASS_NAMES))
    empty = sum(1 for s in samples if len(s.class_ids) == 0)
    lines = [f"{len(samples)} images, {len(class_ids)} boxes, {empty} empty images", "objects per class:"]
    widest = max(int(counts.max()), 1)
    lines += [
        f"  {name:>8} {count:7d} {'#' * round(40 * count / widest)}"
        for name, count in zip(CLASS_NAMES, counts, strict=True)
    ]
    heights = boxes[:, 3] - boxes[:, 1]
    per_bin, _ = np.histogram(heights, bins=SIZE_BINS)
    widest = max(int(per_bin.max()) if len(per_bin) else 1, 1)
    lines.append("box height (px):")
    for low, high, count in zip(SIZE_BINS[:-1], SIZE_BINS[1:], per_bin, strict=True):
        label = f"{low}-{high}" if high < SIZE_BINS[-1] else f">={low}"
        lines.append(f"  {label:>8} {int(count):7d} {'#' * round(40 * int(count) / widest)}")
    return lines


def choose_samples(samples: list[Sample], count: int, seed: int) -> list[Sample]:
    """``count`` samples (at most all) drawn at random with ``seed``, in dataset order."""
    rng = np.random.default_rng(seed)
    count = min(count, len(samples))
    return [samples[i] for i in sorted(rng.choice(len(samples), size=count, replace=False))]

"""Anchor boxes by k-means on the training boxes (IoU distance, as in YOLOv2/v3).

``python -m digit_detector data anchors DIR [--split train]`` prints 9 anchors (w, h relative to the image,
three scales coarse to fine) in the YAML form of ``configs/model/*.yaml`` and compares their mean best-anchor
IoU with the current config's; the anchors a model was trained with are stored in its weights metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from digit_detector.data.yolo_format import load_split
from digit_detector.models import load_model_config


def shape_iou(wh: NDArray[np.float64], anchors: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU of corner-aligned boxes: (N, 2) x (K, 2) -> (N, K)."""
    intersection = np.minimum(wh[:, None, 0], anchors[None, :, 0]) * np.minimum(
        wh[:, None, 1], anchors[None, :, 1]
    )
    union = wh[:, 0:1] * wh[:, 1:2] + (anchors[:, 0] * anchors[:, 1])[None, :] - intersection
    return np.asarray(intersection / union, dtype=np.float64)


def kmeans_anchors(
    wh: NDArray[np.float64], k: int = 9, seed: int = 0, restarts: int = 8, iterations: int = 300
) -> NDArray[np.float64]:
    """k anchors (w, h) clustering ``wh`` with distance 1 - IoU, sorted by area, largest first.

    The best of ``restarts`` random initialisations (by mean best-anchor IoU) is kept: a single k-means run
    often settles in a poor local optimum.
    """
    if len(wh) < k:
        raise ValueError(f"need at least {k} boxes to fit {k} anchors, got {len(wh)}")
    rng = np.random.default_rng(seed)
    best, best_iou = wh[:k], -1.0
    for _ in range(restarts):
        anchors = wh[rng.choice(len(wh), size=k, replace=False)].copy()
        assignment = np.full(len(wh), -1)
        for _ in range(iterations):
            new_assignment = shape_iou(wh, anchors).argmax(axis=1)
            if np.array_equal(new_assignment, assignment):
                break
            assignment = new_assignment
            for cluster in range(k):
                members = wh[assignment == cluster]
                if len(members):
                    anchors[cluster] = np.median(members, axis=0)
        iou = mean_best_iou(wh, anchors)
        if iou > best_iou:
            best, best_iou = anchors, iou
    return best[np.argsort(-(best[:, 0] * best[:, 1]))]


def mean_best_iou(wh: NDArray[np.float64], anchors: NDArray[np.float64]) -> float:
    return float(shape_iou(wh, anchors).max(axis=1).mean())


def relative_box_sizes(root: Path, split: str) -> NDArray[np.float64]:
    """(w, h) of every labelled box relative to its image."""
    sizes = [
        (sample.boxes_xyxy[:, 2:] - sample.boxes_xyxy[:, :2])
        / np.asarray(sample.image_size, dtype=np.float64)
        for sample in load_split(root, split).samples
        if len(sample.boxes_xyxy)
    ]
    return np.concatenate(sizes) if sizes else np.zeros((0, 2))


def config_anchors(model: str) -> NDArray[np.float64]:
    """The 9 anchors (w, h) of a model config (``configs/model/<model>.yaml``), as (9, 2)."""
    return np.asarray(load_model_config(model).anchors, dtype=np.float64).reshape(-1, 2)

"""Geometric augmentation of a composed canvas that keeps every box tight.

Albumentations transforms the image together with one mask per object (``A.Compose`` with
``masks=``); its bbox transforms are never used, because a rotated box can only become a loose
enclosing box. Instead each box is recomputed from the transformed pixels: the tight extent of the
object's mask AND the dark pixels (< 128) of the transformed image.

Objects mostly pushed off the canvas (visible ink below ``min_visible`` of what it was) are dropped
and their remaining ink is erased, as is any stray dark pixel that belongs to no kept object, so
that every dark pixel of the image lies inside a labelled box.

The visible fraction is estimated with keypoints: a sample of each object's ink pixels is
transformed with the image (exact point mapping), and the fraction still inside the canvas is the
fraction of ink that stayed visible (independent of the scale the transform applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import albumentations as A
import cv2
import numpy as np
from numpy.typing import NDArray

from digit_detector.data.augment_config import AugmentConfig
from digit_detector.ink import DARK_THRESHOLD  # a pixel < 128 is ink: labels and box fits agree

_FRINGE_KERNEL = np.ones((5, 5), np.uint8)


@dataclass
class AugmentResult:
    """The transformed canvas and what became of each input object."""

    image: NDArray[np.uint8]  # HxW grayscale
    boxes: NDArray[np.float64]  # (K, 4) xyxy px of the kept objects
    kept: list[int]  # indices (into the input objects) of the kept objects
    visible: list[float]  # per input object: visible fraction of its ink after the transform
    masks: list[NDArray[np.uint8]] = field(default_factory=list)  # kept objects' transformed masks


def ink_boxes(
    image: NDArray[np.uint8], masks: list[NDArray[Any]], dark_threshold: int = DARK_THRESHOLD
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Tight xyxy boxes (pixel edges) of each mask's dark pixels, and their dark-pixel counts.

    A mask with no dark pixel gets the box ``[0, 0, 0, 0]`` and count 0.
    """
    dark = image < dark_threshold
    boxes = np.zeros((len(masks), 4), dtype=np.float64)
    counts = np.zeros(len(masks), dtype=np.int64)
    for index, mask in enumerate(masks):
        ink = dark & mask.astype(np.bool_, copy=False)
        rows = np.flatnonzero(ink.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(ink[rows[0] : rows[-1] + 1].any(axis=0))
        boxes[index] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
        counts[index] = int(np.count_nonzero(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]))
    return boxes, counts


def _sample_ink_points(
    image: NDArray[np.uint8], masks: list[NDArray[Any]], per_object: int, rng: np.random.Generator
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Up to ``per_object`` ink pixel centres (x, y) of each object, and the object index of each."""
    boxes, counts = ink_boxes(image, masks)
    points: list[NDArray[np.float32]] = []
    owners: list[NDArray[np.int64]] = []
    for index, mask in enumerate(masks):
        if counts[index] == 0:
            continue
        x1, y1, x2, y2 = (int(v) for v in boxes[index])
        crop = (image[y1:y2, x1:x2] < DARK_THRESHOLD) & mask[y1:y2, x1:x2].astype(np.bool_, copy=False)
        ys, xs = np.nonzero(crop)
        pick = rng.choice(ys.size, size=min(per_object, ys.size), replace=False)
        points.append(np.stack([xs[pick] + x1, ys[pick] + y1], axis=1).astype(np.float32) + 0.5)
        owners.append(np.full(pick.size, index, dtype=np.int64))
    if not points:
        return np.zeros((0, 2), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(points), np.concatenate(owners)


class Augmenter:
    """Random geometric augmentation of (image, per-object masks) with boxes recomputed from pixels."""

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()
        c = self.config
        fill = {"border_mode": cv2.BORDER_CONSTANT, "fill": 255, "fill_mask": 0}

        def affine(rotate: float, p: float) -> A.Affine:
            return A.Affine(
                scale=c.scale,
                translate_percent=(-c.translate, c.translate),
                rotate=(-rotate, rotate),
                shear=(-c.shear, c.shear),
                keep_ratio=True,
                p=p,
                **fill,
            )

        self.geometric = A.Compose(
            [
                A.OneOf(
                    [
                        affine(c.rotate_small, 1 - c.p_large_rotation),
                        affine(c.rotate_large, c.p_large_rotation),
                    ],
                    p=c.p_affine,
                ),
                A.Perspective(scale=c.perspective_scale, keep_size=True, p=c.p_perspective, **fill),
            ],
            keypoint_params=A.KeypointParams(format="xy", remove_invisible=False, check_each_transform=False),
            seed=0,
        )
        # Separate, without keypoints: albumentations maps keypoints through an elastic field with a
        # Python loop (about a second per canvas). The field is mild (a few px), so it moves almost no
        # ink off the canvas and the visible fraction is measured before it.
        self.elastic = A.Compose(
            [
                # approximate=True blurs with a fixed small kernel: jagged, high-frequency noise
                A.ElasticTransform(
                    alpha=c.elastic_alpha, sigma=c.elastic_sigma, approximate=False, p=1.0, **fill
                )
            ],
            seed=0,
        )

    def __call__(
        self, image: NDArray[np.uint8], masks: list[NDArray[np.uint8]], rng: np.random.Generator
    ) -> AugmentResult:
        """Transform ``image`` (HxW uint8, white paper) and ``masks``; boxes from the result's pixels."""
        c = self.config
        height, width = image.shape[:2]
        points, owners = _sample_ink_points(image, masks, c.keypoints_per_object, rng)
        seeds = rng.integers(2**31 - 1, size=2)
        self.geometric.set_random_seed(int(seeds[0]))
        targets: dict[str, Any] = {"image": image, "keypoints": points}
        if masks:
            targets["masks"] = masks
        out = self.geometric(**targets)
        moved = np.asarray(out["keypoints"], dtype=np.float64).reshape(-1, 2)
        if rng.random() < c.p_elastic:
            self.elastic.set_random_seed(int(seeds[1]))
            out = self.elastic(image=out["image"], **({"masks": out["masks"]} if masks else {}))
        new_masks = [np.asarray(m, dtype=np.uint8) for m in out["masks"]] if masks else []
        new_image = np.ascontiguousarray(np.asarray(out["image"], dtype=np.uint8).reshape(height, width))
        inside = (moved[:, 0] >= 0) & (moved[:, 0] < width) & (moved[:, 1] >= 0) & (moved[:, 1] < height)
        visible = [
            float(inside[owners == i].mean()) if np.any(owners == i) else 0.0 for i in range(len(masks))
        ]
        boxes, counts = ink_boxes(new_image, new_masks)
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        kept = [
            i
            for i in range(len(masks))
            if counts[i] > 0 and visible[i] >= c.min_visible and sides[i] >= c.min_box_side
        ]
        kept_masks = [new_masks[i] for i in kept]
        _erase_unlabelled(new_image, kept_masks, [new_masks[i] for i in range(len(masks)) if i not in kept])
        # erasing can only remove ink of dropped objects, but recompute to stay exact
        kept_boxes, _ = ink_boxes(new_image, kept_masks)
        return AugmentResult(new_image, kept_boxes, kept, visible, kept_masks)


def _erase_unlabelled(
    image: NDArray[np.uint8], kept: list[NDArray[np.uint8]], dropped: list[NDArray[np.uint8]]
) -> None:
    """Whiten dropped objects' pixels and stray dark pixels that belong to no kept object (in place)."""
    keep = np.zeros(image.shape, dtype=np.bool_)
    for mask in kept:
        keep |= mask.astype(np.bool_, copy=False)
    if dropped:
        gone = np.zeros(image.shape, dtype=np.uint8)
        for mask in dropped:
            gone |= mask.astype(np.uint8, copy=False)
        # dilated: the anti-aliased fringe (linearly interpolated) reaches past the (nearest) mask
        image[(cv2.dilate(gone, _FRINGE_KERNEL) > 0) & ~keep] = 255
    image[(image < DARK_THRESHOLD) & ~keep] = 255


def tight_boxes(image: NDArray[np.uint8], masks: list[NDArray[np.uint8]]) -> AugmentResult:
    """Boxes from the pixels without augmenting (objects without dark ink are dropped and erased)."""
    boxes, counts = ink_boxes(image, masks)
    kept = [i for i in range(len(masks)) if counts[i] > 0]
    out = image.copy()
    kept_masks = [masks[i] for i in kept]
    _erase_unlabelled(out, kept_masks, [masks[i] for i in range(len(masks)) if i not in kept])
    return AugmentResult(out, boxes[kept], kept, [1.0] * len(masks), kept_masks)

"""The geometric augmentation's probabilities and ranges, apart from the augmentation itself.

Kept out of :mod:`digit_detector.data.augment` so that what only needs the settings (``data synth``'s
parser, which shows the defaults, and every other ``data`` command that builds it) does not import
albumentations: ``data import`` stays within its memory bound.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the geometric augmentation (JSON-serialisable)."""

    p_affine: float = 0.85
    rotate_small: float = 8.0  # most rotations are within +-rotate_small degrees ...
    rotate_large: float = 30.0  # ... the others within +-rotate_large
    p_large_rotation: float = 0.25
    scale: tuple[float, float] = (0.8, 1.15)
    shear: float = 10.0
    translate: float = 0.04
    p_perspective: float = 0.25
    perspective_scale: tuple[float, float] = (0.02, 0.06)
    p_elastic: float = 0.1  # elastic is slow: a fraction only
    elastic_alpha: float = 800.0  # with sigma 28: a smooth wobble of a few px (not a jagged one)
    elastic_sigma: float = 28.0
    min_visible: float = 0.6
    keypoints_per_object: int = 32
    min_box_side: int = 2

"""How well style carries over: slant and stroke thickness of digit crops, their correlations, and whether
the shipped detector reads each generated digit as the intended class.

* **slant**: the shear that second-order central moments of the ink imply, ``-mu11 / mu02`` (the x shift
  per unit of height; positive = the top leans right), as in MNIST deskewing;
* **thickness**: the mean stroke width in crop pixels, from the ink area and the skeleton length (Zhang-Suen
  thinning of the ink at 4x): ``area = width * (length + width)``, the skeleton stopping half a width short
  of each stroke end; independent of how long the strokes are;
* **readability**: each generated digit pasted onto a white 400x400 canvas at a realistic size, as drawn
  in the app, and run through :class:`~digit_detector.detector.Detector`; read = its best digit detection
  is the intended class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from digit_detector.classes import is_digit
from digit_detector.data.strokes import thin
from digit_detector.detector import Detector

Ink = NDArray[np.float32]

THICKNESS_UPSCALE = 4
INK_LEVEL = 0.5
CANVAS_SIZE = 400
PASTE_HEIGHT = 120  # crops are pasted this tall (px) on the 400 px canvas by default
PASTE_RANGE = (80.0, 160.0)  # evaluation pastes each input and its analogies at one height from this range
TOP1_SCORE = 0.01  # "read as": the best digit detection at any score above this


def slant(ink: Ink) -> float:
    """Shear of the ink from its second-order moments: ``-mu11 / mu02`` (0 when there is no ink)."""
    weights = np.asarray(ink, dtype=np.float64)
    total = weights.sum()
    if total <= 1e-9:
        return 0.0
    ys, xs = np.indices(weights.shape, dtype=np.float64)
    mx, my = (weights * xs).sum() / total, (weights * ys).sum() / total
    mu11 = (weights * (xs - mx) * (ys - my)).sum() / total
    mu02 = (weights * (ys - my) ** 2).sum() / total
    return float(-mu11 / mu02) if mu02 > 1e-9 else 0.0


def thickness(ink: Ink, level: float = INK_LEVEL) -> float:
    """Mean stroke width in crop pixels from ink area and skeleton length (0 when there is no ink)."""
    ink = np.asarray(ink, dtype=np.float32)
    big = cv2.resize(
        ink,
        (ink.shape[1] * THICKNESS_UPSCALE, ink.shape[0] * THICKNESS_UPSCALE),
        interpolation=cv2.INTER_LINEAR,
    )
    mask = big > level
    if not mask.any():
        return 0.0
    area = float(mask.sum()) / THICKNESS_UPSCALE**2
    length = max(int(thin(mask).sum()), 1) / THICKNESS_UPSCALE
    # thinning stops half a width short of each end of a stroke: area = width * (length + width)
    return float((math.sqrt(length * length + 4.0 * area) - length) / 2.0)


def style_features(inks: Ink) -> NDArray[np.float64]:
    """``(N, 2)`` slant and thickness of ``(N, S, S)`` crops."""
    return np.array([[slant(ink), thickness(ink)] for ink in inks], dtype=np.float64).reshape(-1, 2)


def pearson(x: NDArray[np.floating], y: NDArray[np.floating]) -> float:
    """Pearson's r (0 when either side is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    sx, sy = x.std(), y.std()
    if len(x) < 2 or sx < 1e-12 or sy < 1e-12:
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


@dataclass(frozen=True)
class StyleCorrelation:
    """Correlations between the input's and the generated digits' slant and thickness.

    ``pooled``: over all (input, other class) pairs; ``within_class``: the mean over the ten generated
    classes of the correlation across inputs (free of differences between the classes' typical shapes).
    """

    slant_pooled: float
    thickness_pooled: float
    slant_within_class: float
    thickness_within_class: float
    pairs: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "slant_pooled": round(self.slant_pooled, 4),
            "thickness_pooled": round(self.thickness_pooled, 4),
            "slant_within_class": round(self.slant_within_class, 4),
            "thickness_within_class": round(self.thickness_within_class, 4),
            "pairs": self.pairs,
        }


def style_correlation(
    input_features: NDArray[np.floating],
    labels: Sequence[int] | NDArray[np.integer],
    generated_features: NDArray[np.floating],
) -> StyleCorrelation:
    """Correlate input features ``(N, 2)`` with generated ones ``(N, 10, 2)``, leaving out each input's own
    class (that digit is a reconstruction, not an analogy)."""
    inputs = np.asarray(input_features, dtype=np.float64)
    generated = np.asarray(generated_features, dtype=np.float64)
    labels_arr = np.asarray(labels)
    n, classes = generated.shape[:2]
    other = np.ones((n, classes), dtype=bool)
    other[np.arange(n), labels_arr] = False
    pooled = [
        pearson(np.repeat(inputs[:, f : f + 1], classes, 1)[other], generated[:, :, f][other]) for f in (0, 1)
    ]
    within = [
        float(
            np.mean([pearson(inputs[other[:, c], f], generated[other[:, c], c, f]) for c in range(classes)])
        )
        for f in (0, 1)
    ]
    return StyleCorrelation(pooled[0], pooled[1], within[0], within[1], int(other.sum()))


# ------------------------------------------------------------------------------------ readability


def paste_on_canvas(
    ink: Ink, height: int = PASTE_HEIGHT, canvas_size: int = CANVAS_SIZE
) -> NDArray[np.uint8]:
    """A white ``canvas_size`` RGB canvas with the crop's ink scaled to ``height`` px, centred."""
    ink = np.asarray(ink, dtype=np.float32)
    scale = height / ink.shape[0]
    side = max(1, round(ink.shape[0] * scale))
    big = cv2.resize(ink, (side, side), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((canvas_size, canvas_size), dtype=np.float32)
    offset = (canvas_size - side) // 2
    canvas[offset : offset + side, offset : offset + side] = np.clip(big, 0.0, 1.0)
    gray = np.rint((1.0 - canvas) * 255.0).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def read_digits(
    detector: Detector,
    canvases: Sequence[NDArray[np.uint8]],
    thresholds: Sequence[float] | None = None,
    batch_size: int = 32,
) -> list[list[int | None]]:
    """For each score threshold (default: the detector's own), the class of the best-scoring digit
    detection on each canvas (None: no digit at that threshold).

    Batched forward passes through the detector's own preprocessing, backend, selection and naming (the
    app's path).
    """
    thresholds = [detector.score_threshold] if thresholds is None else list(thresholds)
    found: list[list[int | None]] = [[] for _ in thresholds]
    for start in range(0, len(canvases), batch_size):
        for k, threshold in enumerate(thresholds):
            for detections in detector.detect_batch(
                canvases[start : start + batch_size], score_threshold=threshold
            ):
                digits = [(d.score, d.class_id) for d in detections if is_digit(d.class_id)]
                found[k].append(max(digits)[1] if digits else None)
    return found


def paste_heights(
    n: int, seed: int, low: float = PASTE_RANGE[0], high: float = PASTE_RANGE[1]
) -> NDArray[np.int64]:
    """Seeded ink heights (px) for pasting ``n`` crops on the canvas, uniform in ``[low, high]``."""
    return np.rint(np.random.default_rng(seed).uniform(low, high, n)).astype(np.int64)


def readability(
    detector: Detector,
    inks: Ink,
    intended: Sequence[int],
    heights: Sequence[int] | None = None,
    thresholds: Sequence[float] | None = None,
) -> list[float]:
    """Per threshold, the fraction of crops ``(N, S, S)`` the detector reads as their ``intended`` class,
    each pasted ``heights[i]`` px tall (default PASTE_HEIGHT) on a white canvas."""
    if len(intended) == 0:
        return [math.nan for _ in thresholds or [0]]
    reads = read_pasted(detector, inks, heights, thresholds)
    return [float(np.mean([r == c for r, c in zip(read, intended, strict=True)])) for read in reads]


def read_pasted(
    detector: Detector,
    inks: Ink,
    heights: Sequence[int] | None = None,
    thresholds: Sequence[float] | None = None,
) -> list[list[int | None]]:
    """Per threshold, what the detector reads each crop ``(N, R, R)`` as (:func:`read_digits`), each
    pasted ``heights[i]`` px tall (default PASTE_HEIGHT) on a white canvas."""
    sizes = [PASTE_HEIGHT] * len(inks) if heights is None else [int(h) for h in heights]
    canvases = [paste_on_canvas(ink, h) for ink, h in zip(inks, sizes, strict=True)]
    return read_digits(detector, canvases, thresholds)

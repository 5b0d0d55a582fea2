"""Breakdowns of an evaluation: reading rates, digits by source, readings by canvas layout, recall by object
size and pen width."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digit_detector.evaluation.predictions import Matching

# recall buckets: object height as a share of the image height, and pen width in px on a 400 px canvas
SIZE_BUCKETS: tuple[tuple[str, float], ...] = (("small", 0.15), ("medium", 0.4), ("large", math.inf))
PEN_BUCKETS: tuple[tuple[str, float], ...] = (("thin", 7.0), ("default", 15.0), ("thick", math.inf))


class ReadingRates:
    """Single-digit top-1 and numbers read exactly, from the counts of the dataclasses below."""

    single_digit_images: int
    single_digit_correct: int
    number_images: int
    number_correct: int

    @property
    def single_digit_top1(self) -> float | None:
        return ratio(self.single_digit_correct, self.single_digit_images)

    @property
    def number_accuracy(self) -> float | None:
        return ratio(self.number_correct, self.number_images)

    def to_dict(self) -> dict[str, Any]:
        """The ``single_digit`` and ``numbers`` entries of a breakdown's report record."""
        return {
            "single_digit": {
                "images": self.single_digit_images,
                "top1": round_or_none(self.single_digit_top1),
            },
            "numbers": {"images": self.number_images, "accuracy": round_or_none(self.number_accuracy)},
        }


@dataclass
class SourceCounts(ReadingRates):
    """How the digits of one source (MNIST, fonts, Hershey) fared at the detector's threshold."""

    boxes: int = 0
    correct: int = 0
    wrong_class: int = 0
    missed: int = 0
    single_digit_images: int = 0
    single_digit_correct: int = 0
    number_images: int = 0  # number canvases whose digits all come from this source
    number_correct: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "boxes": self.boxes,
            "named": round_or_none(ratio(self.correct, self.boxes)),
            "wrong_class": self.wrong_class,
            "missed": self.missed,
            **super().to_dict(),
        }


@dataclass(frozen=True)
class CanvasReading:
    """How one canvas was read, as the report counts it: ``single_ok`` on a canvas of one digit (the best
    detection names it), ``number_ok`` on one of two or more digits (the number read exactly), None where
    the canvas is not that kind; and how many of its ``other_drawings`` were ``other_taken`` for a digit
    (a digit detection at IoU >= 0.5)."""

    single_ok: bool | None
    number_ok: bool | None
    other_drawings: int
    other_taken: int


@dataclass
class ReadingCounts(ReadingRates):
    """The reading figures of many canvases: the sum of their :class:`CanvasReading` records."""

    single_digit_images: int = 0
    single_digit_correct: int = 0
    number_images: int = 0
    number_correct: int = 0
    other_drawings: int = 0
    other_taken: int = 0

    def add(self, reading: CanvasReading) -> None:
        if reading.single_ok is not None:
            self.single_digit_images += 1
            self.single_digit_correct += reading.single_ok
        if reading.number_ok is not None:
            self.number_images += 1
            self.number_correct += reading.number_ok
        self.other_drawings += reading.other_drawings
        self.other_taken += reading.other_taken

    def __str__(self) -> str:
        return (
            f"top-1 {self.single_digit_correct}/{self.single_digit_images}, "
            f"numbers {self.number_correct}/{self.number_images}, "
            f"other -> digit {self.other_taken}/{self.other_drawings}"
        )


def _bucket(value: float, buckets: Sequence[tuple[str, float]]) -> str:
    return next(name for name, upper in buckets if value < upper)


def count_buckets(
    recall_buckets: dict[str, dict[str, list[int]]],
    gt_boxes: NDArray[np.float64],
    image_height: int,
    pens: Sequence[float] | None,
    matching: Matching,
) -> None:
    """Add one image's true boxes to the size (and pen) recall buckets: total, found, named right."""
    outcome = dict.fromkeys(range(len(gt_boxes)), "missed")
    for gt_index, det_index in matching.pairs:
        outcome[gt_index] = matching.outcome[det_index]
    axes: list[tuple[str, Sequence[tuple[str, float]], list[float]]] = [
        ("size", SIZE_BUCKETS, [(b[3] - b[1]) / max(image_height, 1) for b in gt_boxes.tolist()])
    ]
    if pens is not None and len(pens) == len(gt_boxes):
        axes.append(("pen", PEN_BUCKETS, [p * 400.0 / max(image_height, 1) for p in pens]))
    for axis, buckets, values in axes:
        table = recall_buckets.setdefault(axis, {name: [0, 0, 0] for name, _ in buckets})
        for gt_index, value in enumerate(values):
            row = table[_bucket(value, buckets)]
            row[0] += 1
            row[1] += outcome[gt_index] != "missed"
            row[2] += outcome[gt_index] == "correct"


def count_by_source(
    by_source: dict[str, SourceCounts],
    kinds: Sequence[str | None],
    gt_ids: Sequence[int],
    matching: Matching,
    single_ok: bool | None,
    number_ok: bool | None,
) -> None:
    """Add one image's digit outcomes to the counts of their sources (``kinds``: one per label)."""
    if len(kinds) != len(gt_ids):
        raise ValueError(f"the metadata lists {len(kinds)} objects but the labels have {len(gt_ids)}")
    outcome = dict.fromkeys(range(len(gt_ids)), "missed")
    for gt_index, det_index in matching.pairs:
        outcome[gt_index] = matching.outcome[det_index]
    for gt_index, kind in enumerate(kinds):
        if kind is None:
            continue
        counts = by_source.setdefault(kind, SourceCounts())
        counts.boxes += 1
        counts.correct += outcome[gt_index] == "correct"
        counts.wrong_class += outcome[gt_index] == "wrong_class"
        counts.missed += outcome[gt_index] == "missed"
    digit_kinds = {kind for kind in kinds if kind is not None}
    if single_ok is not None:
        counts = by_source[kinds[0]]  # type: ignore[index]  # a single-digit image's one label is a digit
        counts.single_digit_images += 1
        counts.single_digit_correct += single_ok
    if number_ok is not None and len(digit_kinds) == 1:
        counts = by_source[digit_kinds.pop()]
        counts.number_images += 1
        counts.number_correct += number_ok


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def round_or_none(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"

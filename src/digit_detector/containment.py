"""A second opinion on the boxes the containment rule drops: keep the touching digits it took for parts.

:func:`~digit_detector.decode.contained` drops a box lying mostly inside a larger one as a part of it (the
stem of a `4` read as a `1`). A digit pressed against its neighbour can lie as far inside the neighbour's
box (a thin `1` beside a `9`, two digits drawn overlapping), and then the number loses it. Telling the two
apart by hand-made rules stopped paying (``docs/experiments.md``), so a :class:`KeepRule` learns it: a
small neural network over how each dropped box lies in the box that holds it and how sure the detector and
the namer are of both, fitted on training canvases where the truth says which dropped boxes were whole
objects (``python -m digit_detector namer keep-rule``). It is part of the weights' metadata, because it
reads their scores, and runs in numpy for both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digit_detector.boxes import inside_share

#: What :func:`dropped_box_features` describes of each dropped box ``i`` and its tightest holder ``j``,
#: followed by the one-hot name of ``i`` and of ``j`` (``num_classes`` each).
GEOMETRY_FEATURES = (
    "share of i inside j",
    "log area i / j",
    "objectness i",
    "objectness j",
    "name probability i",
    "name probability j",
    "log score i / j",
    "same name",
    "centre offset x / width j",
    "centre offset y / height j",
    "reach of i beyond j in x / width i",
    "reach of i beyond j in y / height i",
    "log aspect i",
    "log aspect j",
    "holders of i",
    "boxes kept",
)


def feature_count(num_classes: int) -> int:
    return len(GEOMETRY_FEATURES) + 2 * num_classes


def dropped_box_features(
    boxes: NDArray[Any],
    objectness: NDArray[Any],
    name_probs: NDArray[Any],
    class_ids: NDArray[Any],
    dropped: NDArray[np.bool_],
    threshold: float,
    num_classes: int,
) -> NDArray[np.float64]:
    """One row per dropped box (in order; ``(M, feature_count)``) describing it against its tightest holder:
    the larger box holding the greatest share of it above ``threshold`` (itself if none does)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    objectness = np.asarray(objectness, np.float64)
    name_probs = np.asarray(name_probs, np.float64)
    ids = np.asarray(class_ids, np.int64)
    dropped = np.asarray(dropped, bool)
    size = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6)
    area = size[:, 0] * size[:, 1]
    inside = inside_share(boxes, boxes)
    scores = np.maximum(objectness * name_probs, 1e-6)
    one_hot = np.eye(num_classes)
    kept = float((~dropped).sum())
    rows = []
    for i in np.flatnonzero(dropped):
        holds = (inside[i] > threshold) & (area >= area[i])
        holds[i] = False
        j = int(np.argmax(np.where(holds, inside[i], -1.0))) if holds.any() else int(i)
        offset = ((boxes[i, :2] + boxes[i, 2:]) - (boxes[j, :2] + boxes[j, 2:])) / 2 / size[j]
        beyond = np.maximum(boxes[i, 2:] - boxes[j, 2:], boxes[j, :2] - boxes[i, :2]) / size[i]
        geometry = [
            inside[i, j],
            np.log(area[i] / area[j]),
            objectness[i],
            objectness[j],
            name_probs[i],
            name_probs[j],
            np.log(scores[i] / scores[j]),
            float(ids[i] == ids[j]),
            abs(offset[0]),
            abs(offset[1]),
            max(beyond[0], 0.0),
            max(beyond[1], 0.0),
            np.log(size[i, 0] / size[i, 1]),
            np.log(size[j, 0] / size[j, 1]),
            float(holds.sum()),
            kept,
        ]
        rows.append(np.concatenate([geometry, one_hot[ids[i]], one_hot[ids[j]]]))
    return np.array(rows, np.float64).reshape(-1, feature_count(num_classes))


@dataclass(frozen=True)
class KeepRule:
    """A small neural network on :func:`dropped_box_features` (standardised by ``mean`` and ``scale``, one
    ReLU hidden layer): a dropped box is kept when its probability of being a whole object is at least
    ``min_probability``. Why not a logistic regression: on the same features it read fewer validation
    numbers without losing lone digits (``docs/experiments.md``, package 4.11.0)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    hidden_weights: tuple[tuple[float, ...], ...]  # (hidden, features)
    hidden_bias: tuple[float, ...]
    output_weights: tuple[float, ...]  # (hidden,)
    output_bias: float
    min_probability: float
    num_classes: int

    def __post_init__(self) -> None:
        features, hidden = feature_count(self.num_classes), len(self.hidden_bias)
        sizes = {
            "mean": (len(self.mean), features),
            "scale": (len(self.scale), features),
            "hidden_weights": (len(self.hidden_weights), hidden),
            "output_weights": (len(self.output_weights), hidden),
            **{f"hidden_weights[{k}]": (len(row), features) for k, row in enumerate(self.hidden_weights)},
        }
        for name, (got, expected) in sizes.items():
            if got != expected:
                raise ValueError(
                    f"containment_keep.{name} has {got} values, expected {expected} "
                    f"({len(GEOMETRY_FEATURES)} features + 2 x {self.num_classes} classes; "
                    f"{hidden} hidden units)"
                )
        if not 0.0 <= self.min_probability <= 1.0:
            raise ValueError(
                f"containment_keep.min_probability must be from 0 to 1, got {self.min_probability}"
            )

    def probabilities(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """How likely each row of ``features`` is a whole object the rule should not have dropped."""
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        hidden = np.maximum(z @ np.asarray(self.hidden_weights).T + np.asarray(self.hidden_bias), 0.0)
        logits = hidden @ np.asarray(self.output_weights) + self.output_bias
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), np.float64)

    def keep(
        self,
        boxes: NDArray[Any],
        objectness: NDArray[Any],
        name_probs: NDArray[Any],
        class_ids: NDArray[Any],
        dropped: NDArray[np.bool_],
        threshold: float,
    ) -> NDArray[np.bool_]:
        """Which of the ``dropped`` boxes ``(K,)`` to keep after all."""
        dropped = np.asarray(dropped, bool)
        keep = np.zeros(len(dropped), dtype=bool)
        if dropped.any():
            features = dropped_box_features(
                boxes, objectness, name_probs, class_ids, dropped, threshold, self.num_classes
            )
            keep[np.flatnonzero(dropped)] = self.probabilities(features) >= self.min_probability
        return keep

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [*GEOMETRY_FEATURES, "name i (one-hot)", "name j (one-hot)"],
            "num_classes": self.num_classes,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "hidden_weights": [list(row) for row in self.hidden_weights],
            "hidden_bias": list(self.hidden_bias),
            "output_weights": list(self.output_weights),
            "output_bias": self.output_bias,
            "min_probability": self.min_probability,
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> KeepRule:
        """``ValueError`` for a record that is not a keep rule (missing or wrongly sized values)."""
        try:
            return cls(
                mean=_floats(record["mean"]),
                scale=_floats(record["scale"]),
                hidden_weights=tuple(_floats(row) for row in record["hidden_weights"]),
                hidden_bias=_floats(record["hidden_bias"]),
                output_weights=_floats(record["output_weights"]),
                output_bias=float(record["output_bias"]),
                min_probability=float(record["min_probability"]),
                num_classes=int(record["num_classes"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"containment_keep is not a keep rule: {error!r}") from error


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)

"""Model configuration: which architecture, how wide, and the anchor boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from digit_detector.classes import NUM_CLASSES

Anchor = tuple[float, float]
ScaleAnchors = tuple[Anchor, Anchor, Anchor]
Anchors = tuple[ScaleAnchors, ScaleAnchors, ScaleAnchors]

#: Output strides of the three heads, coarse to fine (grid sizes 6, 12, 24 at 192 px).
STRIDES: tuple[int, int, int] = (32, 16, 8)

#: Anchor (w, h) relative to the image, per scale coarse (stride 32) to fine (stride 8);
#: the anchors the original checkpoint was trained with.
DEFAULT_ANCHORS: Anchors = (
    ((0.28, 0.22), (0.38, 0.48), (0.90, 0.78)),
    ((0.07, 0.15), (0.15, 0.11), (0.14, 0.29)),
    ((0.02, 0.03), (0.04, 0.07), (0.08, 0.06)),
)


def _to_anchors(value: Any) -> Anchors:
    """Coerce nested lists (from YAML/JSON) into the 3 x 3 x (w, h) tuple form."""
    if not isinstance(value, Sequence) or len(value) != len(STRIDES):
        raise ValueError(f"anchors must have {len(STRIDES)} scales, got {value!r}")
    scales: list[ScaleAnchors] = []
    for scale in value:
        if not isinstance(scale, Sequence) or len(scale) != 3:
            raise ValueError(f"each anchor scale must hold 3 (w, h) pairs, got {scale!r}")
        pairs: list[Anchor] = []
        for pair in scale:
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise ValueError(f"each anchor must be a (w, h) pair, got {pair!r}")
            w, h = float(pair[0]), float(pair[1])
            if not (w > 0 and h > 0):
                raise ValueError(f"anchor sizes must be positive, got {pair!r}")
            pairs.append((w, h))
        scales.append((pairs[0], pairs[1], pairs[2]))
    return (scales[0], scales[1], scales[2])


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a model; stored as JSON metadata next to weights.

    ``name`` is the architecture key of the registry (``"yolov3"`` or ``"yolov3-tiny"``).
    ``width`` scales the channel counts of architectures that support it (ignored by ``yolov3``,
    whose shapes are fixed by the original checkpoint).
    """

    name: str
    width: float = 1.0
    num_classes: int = NUM_CLASSES
    input_size: int = 192
    anchors: Anchors = field(default=DEFAULT_ANCHORS)
    # Box centre = cell + xy_scale * sigmoid(t) - (xy_scale - 1) / 2. 1.0 is YOLOv3 (the centre stays in its
    # cell); 2.0 is YOLOv5's: the centre may sit half a cell outside, so each box is also trained at the
    # neighbouring cells nearest its centre (see training.targets).
    xy_scale: float = 1.0
    # Residual 3x3 blocks on the fused features before the stride-16 and stride-8 necks (``yolov3-tiny``
    # only). Zero-initialised, so a model grown from weights without them starts as that model.
    neck_blocks: int = 0

    def __post_init__(self) -> None:
        # Normalise types so configs from YAML (ints, lists) compare equal to the canonical form.
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "num_classes", int(self.num_classes))
        object.__setattr__(self, "input_size", int(self.input_size))
        object.__setattr__(self, "anchors", _to_anchors(self.anchors))
        object.__setattr__(self, "xy_scale", float(self.xy_scale))
        object.__setattr__(self, "neck_blocks", int(self.neck_blocks))
        if not self.name:
            raise ValueError("ModelConfig.name must be a non-empty architecture name")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.num_classes <= 0:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        if self.neck_blocks < 0:
            raise ValueError(f"neck_blocks must be 0 or more, got {self.neck_blocks}")
        if not 1.0 <= self.xy_scale <= 3.0:
            raise ValueError(f"xy_scale must be in [1, 3], got {self.xy_scale}")
        if self.input_size <= 0 or self.input_size % max(STRIDES) != 0:
            raise ValueError(
                f"input_size must be a positive multiple of {max(STRIDES)}, got {self.input_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (anchors as nested lists); ``neck_blocks`` only when set, so the
        metadata of models without them reads as before."""
        data: dict[str, Any] = {
            "name": self.name,
            "width": self.width,
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "anchors": [[list(pair) for pair in scale] for scale in self.anchors],
            "xy_scale": self.xy_scale,
        }
        if self.neck_blocks:
            data["neck_blocks"] = self.neck_blocks
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; rejects unknown keys so typos don't pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys {unknown}; expected a subset of {sorted(known)}")
        if "name" not in data:
            raise ValueError("ModelConfig needs a 'name' (the architecture)")
        return cls(**dict(data))

"""Handwritten digit detector: a YOLOv3 that boxes and names every object drawn on a canvas.

The public names below are imported on first use, so that ``import digit_detector`` (and
``digit-detector --version`` or ``--help``) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digit_detector.classes import CLASS_NAMES
    from digit_detector.detector import Detection, DetectionResult, Detector

__all__ = ["CLASS_NAMES", "Detection", "DetectionResult", "Detector"]
__version__ = "4.32.0"

_LAZY = {
    "CLASS_NAMES": "digit_detector.classes",
    "Detection": "digit_detector.detector",
    "DetectionResult": "digit_detector.detector",
    "Detector": "digit_detector.detector",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

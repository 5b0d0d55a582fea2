"""Handwritten digit detector: a YOLOv3 that boxes and names every object drawn on a canvas."""

from digit_detector.classes import CLASS_NAMES
from digit_detector.detector import Detection, DetectionResult, Detector

__all__ = ["CLASS_NAMES", "Detection", "DetectionResult", "Detector"]
__version__ = "4.0.0"  # the package version (pyproject.toml reads it); weights carry their own

"""Model registry: architecture name -> constructor, and model configs from ``configs/model``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from digit_detector.bundled import bundled_dir
from digit_detector.models.config import DEFAULT_ANCHORS, STRIDES, ModelConfig
from digit_detector.models.layers import YoloModel
from digit_detector.models.yolov3 import YOLOv3
from digit_detector.models.yolov3_tiny import YOLOv3Tiny

__all__ = [
    "DEFAULT_ANCHORS",
    "STRIDES",
    "ModelConfig",
    "UnknownModelError",
    "YOLOv3",
    "YOLOv3Tiny",
    "YoloModel",
    "available_models",
    "build_model",
    "default_configs_dir",
    "load_model_config",
]

_REGISTRY: dict[str, Callable[[ModelConfig], YoloModel]] = {
    "yolov3": YOLOv3,
    "yolov3-tiny": YOLOv3Tiny,
}


class UnknownModelError(ValueError):
    """An architecture or model config name that doesn't exist."""


def default_configs_dir() -> Path:
    """The shipped configs: the wheel's package data, or ``configs/`` in a source checkout."""
    return bundled_dir("configs")


def available_models() -> list[str]:
    """Registered architecture names, sorted."""
    return sorted(_REGISTRY)


def build_model(config: ModelConfig) -> YoloModel:
    """A freshly initialised model (head biases set for from-scratch training)."""
    try:
        builder = _REGISTRY[config.name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model architecture {config.name!r}; available models: {', '.join(available_models())}"
        ) from None
    return builder(config)


def load_model_config(name: str, configs_dir: str | Path | None = None) -> ModelConfig:
    """Read ``<configs_dir>/model/<name>.yaml`` (``configs_dir`` defaults to the repo's ``configs``)."""
    model_dir = Path(configs_dir if configs_dir is not None else default_configs_dir()) / "model"
    path = model_dir / f"{name}.yaml"
    if not path.is_file():
        on_disk = sorted(p.stem for p in model_dir.glob("*.yaml")) if model_dir.is_dir() else []
        raise UnknownModelError(
            f"unknown model {name!r}: no {path}; available models: {', '.join(on_disk or available_models())}"
        )
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of ModelConfig fields, got {type(data).__name__}")
    config = ModelConfig.from_dict(data)
    if config.name not in _REGISTRY:
        raise UnknownModelError(
            f"{path}: unknown architecture {config.name!r}; available models: {', '.join(available_models())}"
        )
    return config

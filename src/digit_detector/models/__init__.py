"""Model registry: architecture name -> constructor, and model configs from ``configs/model``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from digit_detector.bundled import bundled_dir
from digit_detector.models.config import DEFAULT_ANCHORS, STRIDES, ModelConfig

if TYPE_CHECKING:
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

# architecture name -> the module and class that build it. The PyTorch modules (and their names below) are
# imported on first use, so that model configs and weights metadata are read without torch (the
# onnxruntime-only serving path).
_REGISTRY: dict[str, tuple[str, str]] = {
    "yolov3": ("digit_detector.models.yolov3", "YOLOv3"),
    "yolov3-tiny": ("digit_detector.models.yolov3_tiny", "YOLOv3Tiny"),
}
_LAZY = {"YoloModel": "digit_detector.models.layers", **{name: module for module, name in _REGISTRY.values()}}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


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
        module, name = _REGISTRY[config.name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model architecture {config.name!r}; available models: {', '.join(available_models())}"
        ) from None
    builder: type[YoloModel] = getattr(importlib.import_module(module), name)
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

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from digit_detector.models import build_model, load_model_config
from digit_detector.weights import WeightsMetadata, save_weights


@pytest.fixture(scope="session")
def random_tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Randomly initialised yolov3-tiny weights with metadata, for tests that need a loadable model."""
    torch.manual_seed(0)
    config = load_model_config("yolov3-tiny")
    model = build_model(config)
    path = tmp_path_factory.mktemp("weights") / "random-tiny.safetensors"
    return save_weights(model, WeightsMetadata(model=config, score_threshold=0.5, version="random"), path)


def _batch_norms_as_trained(module: torch.nn.Module) -> None:
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.data.uniform_(0.5, 1.5)
            norm.bias.data.uniform_(-0.2, 0.2)


@pytest.fixture
def batch_norms_as_trained() -> Callable[[torch.nn.Module], None]:
    """Gives a module's batch norms statistics and scales a trained network would have (a new one's are the
    identity, which folding them into the convolutions would leave unchanged)."""
    return _batch_norms_as_trained

from __future__ import annotations

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

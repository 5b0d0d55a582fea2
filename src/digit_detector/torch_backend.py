"""The PyTorch backend: the detector network run as it serves (folded, channels-last, in the precision
:func:`~digit_detector.devices.resolve_precision` picks) and its heads decoded; the onnxruntime one is
:mod:`digit_detector.onnx_backend`. Both are what :class:`~digit_detector.detector.Detector` calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from digit_detector.decode import decode

if TYPE_CHECKING:  # imported where the torch backend is built: the onnx backend serves without torch
    import torch

    from digit_detector.models import YoloModel


class TorchBackend:
    """Runs the PyTorch model and decodes its heads.

    The model runs channels-last (NHWC), as it trains: on these CPUs the convolutions take about 30 %
    less time that way (``scripts/benchmark.py``), with the same outputs up to float rounding. It runs as a
    copy with its batch norms folded into its convolutions
    (:func:`~digit_detector.models.layers.folded_batch_norms`), in ``dtype`` (bfloat16 where it is faster:
    :func:`~digit_detector.devices.resolve_precision`; its outputs are decoded in float32); ``model`` stays
    as given, in eval mode."""

    def __init__(self, model: YoloModel, device: torch.device, dtype: torch.dtype | None = None) -> None:
        import torch

        from digit_detector.models.layers import folded_batch_norms

        self.model = model.to(device).eval()
        self.dtype = dtype or torch.float32
        self.network = folded_batch_norms(self.model).to(self.dtype).to(memory_format=torch.channels_last)
        self.device = device
        config = model.config
        self.anchors = torch.tensor(config.anchors, dtype=torch.float32, device=device)
        self.input_size = config.input_size
        self.xy_scale = config.xy_scale

    def __call__(self, batch: NDArray[np.float32] | torch.Tensor) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            images = torch.as_tensor(batch).to(self.device, self.dtype)
            outputs = self.network(images.contiguous(memory_format=torch.channels_last))
            if self.dtype != torch.float32:
                outputs = [output.float() for output in outputs]
            return decode(outputs, self.anchors, self.input_size, self.xy_scale).cpu()

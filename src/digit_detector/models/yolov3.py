"""Darknet-53 YOLOv3, layer for layer the model of the original checkpoint.

This is Aladdin Persson's "YOLOv3 from scratch" layout: a flat ``nn.ModuleList`` built from
:data:`ARCHITECTURE`, so parameter names are ``layers.<i>...`` exactly as in the original
``best_model.pth`` and it loads with ``load_state_dict(strict=True)``. Don't reorder entries.
"""

from __future__ import annotations

from typing import Final

import torch
from torch import Tensor, nn

from digit_detector.models.config import ModelConfig
from digit_detector.models.layers import CNNBlock, ResidualBlock, ScalePrediction, YoloModel

# (out_channels, kernel_size, stride): a CNNBlock; ("B", n): ResidualBlock with n repeats;
# "S": scale prediction branch (3 modules); "U": 2x upsample, then concat with a saved route.
ARCHITECTURE: Final[list[tuple[int, int, int] | tuple[str, int] | str]] = [
    (32, 3, 1),
    (64, 3, 2),
    ("B", 1),
    (128, 3, 2),
    ("B", 2),
    (256, 3, 2),
    ("B", 8),  # route -> stride-8 branch
    (512, 3, 2),
    ("B", 8),  # route -> stride-16 branch
    (1024, 3, 2),
    ("B", 4),  # end of Darknet-53
    (512, 1, 1),
    (1024, 3, 1),
    "S",  # stride 32 head (layers.15)
    (256, 1, 1),
    "U",
    (256, 1, 1),
    (512, 3, 1),
    "S",  # stride 16 head (layers.22)
    (128, 1, 1),
    "U",
    (128, 1, 1),
    (256, 3, 1),
    "S",  # stride 8 head (layers.29)
]

#: Residual blocks with this many repeats save their output for the upsample routes.
ROUTE_REPEATS: Final = 8


class YOLOv3(YoloModel):
    """Full YOLOv3 (61.6 M parameters at 12 classes). ``config.width`` is ignored."""

    def __init__(self, config: ModelConfig, in_channels: int = 3) -> None:
        super().__init__(config)
        if config.neck_blocks:
            raise ValueError(
                "neck_blocks is a yolov3-tiny option; yolov3's shapes are the original checkpoint's"
            )
        self.num_classes = config.num_classes
        self.in_channels = in_channels
        self.layers = self._create_layers()
        self.init_head_bias()

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs: list[Tensor] = []
        routes: list[Tensor] = []
        # The branching below depends only on module types, so tracing/ONNX export sees a static graph.
        for layer in self.layers:
            if isinstance(layer, ScalePrediction):
                outputs.append(layer(x))
                continue
            x = layer(x)
            if isinstance(layer, ResidualBlock) and layer.num_repeats == ROUTE_REPEATS:
                routes.append(x)
            elif isinstance(layer, nn.Upsample):
                x = torch.cat([x, routes.pop()], dim=1)
        return outputs

    def _create_layers(self) -> nn.ModuleList:
        layers = nn.ModuleList()
        in_channels = self.in_channels
        for entry in ARCHITECTURE:
            match entry:
                case (int() as out_channels, int() as kernel_size, int() as stride):
                    layers.append(
                        CNNBlock(
                            in_channels,
                            out_channels,
                            kernel_size=kernel_size,
                            stride=stride,
                            padding=1 if kernel_size == 3 else 0,
                        )
                    )
                    in_channels = out_channels
                case ("B", int() as num_repeats):
                    layers.append(ResidualBlock(in_channels, num_repeats=num_repeats))
                case "S":
                    layers.append(ResidualBlock(in_channels, use_residual=False, num_repeats=1))
                    layers.append(CNNBlock(in_channels, in_channels // 2, kernel_size=1))
                    layers.append(ScalePrediction(in_channels // 2, num_classes=self.num_classes))
                    in_channels //= 2
                case "U":
                    layers.append(nn.Upsample(scale_factor=2))
                    # Concatenated with a route that has twice the channels of the upsampled tensor.
                    in_channels *= 3
                case _:
                    raise ValueError(f"bad architecture entry {entry!r}")
        return layers

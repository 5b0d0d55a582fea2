"""A small three-scale YOLOv3-tiny for fast CPU inference.

Backbone as darknet's ``yolov3-tiny.cfg`` (3x3 conv blocks, 2x2 max-pool downsampling to
stride 32, a stride-1 max-pool, a 1x1 bottleneck), except that the first two downsamplings are
stride-2 convs for CPU speed. Unlike darknet's two heads, a second
upsample + concat path adds the stride-8 head so all three scales (and anchors) of the full model
are kept. Channel counts are darknet's scaled by ``config.width``. ``config.neck_blocks`` residual
blocks on each fused (upsampled + route) feature map give the stride-16 and stride-8 heads more
context than the 1x1 neck alone, to tell touching digits apart.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from digit_detector.models.config import ModelConfig
from digit_detector.models.layers import CNNBlock, ResidualBlock, ScalePrediction, YoloModel


def scale_channels(channels: int, width: float) -> int:
    """Channels at a width multiplier, rounded to a multiple of 8 (at least 8)."""
    return max(8, round(channels * width / 8) * 8)


def _conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> CNNBlock:
    return CNNBlock(in_channels, out_channels, kernel_size=kernel_size, padding=kernel_size // 2)


def _fuse_blocks(channels: int, repeats: int) -> nn.Module:
    """``repeats`` residual blocks whose last batch norm starts at zero (each block adds nothing until
    trained, as in Goyal et al. 2017), or an identity without parameters when ``repeats`` is 0."""
    if repeats == 0:
        return nn.Identity()
    blocks = ResidualBlock(channels, num_repeats=repeats)
    for layer in blocks.layers:
        last_norm = [module for module in layer.modules() if isinstance(module, nn.BatchNorm2d)][-1]
        nn.init.zeros_(last_norm.weight)
        nn.init.zeros_(last_norm.bias)
    return blocks


#: Prefixes of the tensors ``neck_blocks`` adds: the only ones a grown model's start may lack.
FUSE_BLOCK_PREFIXES: tuple[str, ...] = ("fuse16.", "fuse8.")


def load_grown_state(model: nn.Module, state: dict[str, Tensor]) -> None:
    """Load ``state`` into ``model``, which may hold neck blocks the state lacks (they keep their
    zero-initialised start, so the grown model computes what the state's model did); any other
    missing, extra or misshapen tensor raises."""
    result = model.load_state_dict(state, strict=False)
    foreign = [key for key in result.missing_keys if not key.startswith(FUSE_BLOCK_PREFIXES)]
    if foreign or result.unexpected_keys:
        raise RuntimeError(
            f"weights do not fit this model: missing {foreign[:3]}, unexpected {result.unexpected_keys[:3]}"
        )


class YOLOv3Tiny(YoloModel):
    """YOLOv3-tiny with three heads (strides 32, 16, 8); ~2.1 M parameters at width 0.5."""

    def __init__(self, config: ModelConfig, in_channels: int = 3) -> None:
        super().__init__(config)
        nc = config.num_classes

        def c(channels: int) -> int:
            return scale_channels(channels, config.width)

        pool = nn.MaxPool2d(kernel_size=2, stride=2)
        # Stride 1 -> 8. The first two downsamplings are stride-2 convs (as in yolov4-tiny): a
        # conv + 2x2 max-pool at full 192 px resolution alone costs more than the rest of the
        # backbone on CPU. The stride-8 route is the output of the 128-channel conv at 24x24.
        self.stem = nn.Sequential(
            CNNBlock(in_channels, c(16), kernel_size=3, stride=2, padding=1),
            CNNBlock(c(16), c(32), kernel_size=3, stride=2, padding=1),
            _conv(c(32), c(64)),
            pool,
            _conv(c(64), c(128)),
        )
        # Stride 8 -> 16: route for the stride-16 branch.
        self.stage16 = nn.Sequential(pool, _conv(c(128), c(256)))
        # Stride 16 -> 32. Darknet pads right/bottom + 2x2 pool; a 3x3 pool with -inf padding
        # keeps the size the same way without biasing towards zero after LeakyReLU.
        self.stage32 = nn.Sequential(
            pool,
            _conv(c(256), c(512)),
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            _conv(c(512), c(1024)),
            _conv(c(1024), c(256), kernel_size=1),
        )
        self.head32 = ScalePrediction(c(256), nc, keep_unused_bn=False)

        self.lateral16 = _conv(c(256), c(128), kernel_size=1)
        self.fuse16 = _fuse_blocks(c(128) + c(256), config.neck_blocks)
        self.neck16 = _conv(c(128) + c(256), c(128), kernel_size=1)
        self.head16 = ScalePrediction(c(128), nc, keep_unused_bn=False)

        self.lateral8 = _conv(c(128), c(64), kernel_size=1)
        self.fuse8 = _fuse_blocks(c(64) + c(128), config.neck_blocks)
        self.neck8 = _conv(c(64) + c(128), c(64), kernel_size=1)
        self.head8 = ScalePrediction(c(64), nc, keep_unused_bn=False)

        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.init_head_bias()

    def forward(self, x: Tensor) -> list[Tensor]:
        route8 = self.stem(x)
        route16 = self.stage16(route8)
        x32 = self.stage32(route16)
        x16 = self.neck16(self.fuse16(torch.cat([self.upsample(self.lateral16(x32)), route16], dim=1)))
        x8 = self.neck8(self.fuse8(torch.cat([self.upsample(self.lateral8(x16)), route8], dim=1)))
        return [self.head32(x32), self.head16(x16), self.head8(x8)]

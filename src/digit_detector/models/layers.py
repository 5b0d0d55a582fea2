"""Building blocks shared by the YOLOv3 architectures, and the common model base class.

Module and attribute names (``conv``, ``bn``, ``layers``, ``pred``) follow Aladdin Persson's
"YOLOv3 from scratch" implementation so that the original checkpoint loads without renaming.
"""

from __future__ import annotations

import copy
import itertools
from typing import TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from digit_detector.models.config import STRIDES, ModelConfig

ModuleT = TypeVar("ModuleT", bound=nn.Module)

#: Head attributes per anchor: objectness, x, y, w, h, then the class logits.
NUM_BOX_ATTRS = 5
OBJECTNESS_INDEX = 0

#: Initial objectness logit: sigmoid(-4) ~ 0.018, so from-scratch training doesn't start with every
#: cell claiming an object (which swamps the loss with false positives in the first steps).
DEFAULT_OBJECTNESS_BIAS = -4.0


class CNNBlock(nn.Module):
    """Conv -> BatchNorm -> LeakyReLU(0.1), or a plain biased conv when ``bn_act`` is False.

    The original code creates ``bn`` even when it is unused (``bn_act=False``), and those unused
    tensors are in its checkpoint; ``keep_unused_bn=False`` drops them for new architectures.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        bn_act: bool = True,
        keep_unused_bn: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not bn_act
        )
        self.bn: nn.Module = nn.BatchNorm2d(out_channels) if bn_act or keep_unused_bn else nn.Identity()
        self.leaky = nn.LeakyReLU(0.1)
        self.use_bn_act = bn_act

    def forward(self, x: Tensor) -> Tensor:
        if self.use_bn_act:
            return self.leaky(self.bn(self.conv(x)))
        return self.conv(x)


class ResidualBlock(nn.Module):
    """``num_repeats`` x (1x1 halve, 3x3 restore), each with a skip connection if ``use_residual``."""

    def __init__(self, channels: int, use_residual: bool = True, num_repeats: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                CNNBlock(channels, channels // 2, kernel_size=1),
                CNNBlock(channels // 2, channels, kernel_size=3, padding=1),
            )
            for _ in range(num_repeats)
        )
        self.use_residual = use_residual
        self.num_repeats = num_repeats

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = x + layer(x) if self.use_residual else layer(x)
        return x


class ScalePrediction(nn.Module):
    """Detection head for one scale: 3x3 conv (c -> 2c) then 1x1 conv to 3 * (5 + classes).

    Output is the raw (N, 3, S, S, 5 + num_classes) tensor, channels
    [objectness, x, y, w, h, class logits...].
    """

    def __init__(
        self, in_channels: int, num_classes: int, num_anchors: int = 3, keep_unused_bn: bool = True
    ) -> None:
        super().__init__()
        self.pred = nn.Sequential(
            CNNBlock(in_channels, 2 * in_channels, kernel_size=3, padding=1),
            CNNBlock(
                2 * in_channels,
                (num_classes + NUM_BOX_ATTRS) * num_anchors,
                kernel_size=1,
                bn_act=False,
                keep_unused_bn=keep_unused_bn,
            ),
        )
        self.num_classes = num_classes
        self.num_anchors = num_anchors

    @property
    def out_conv(self) -> nn.Conv2d:
        """The final (biased) 1x1 conv."""
        block = self.pred[-1]
        assert isinstance(block, CNNBlock)
        return block.conv

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        return (
            self.pred(x)
            .reshape(n, self.num_anchors, self.num_classes + NUM_BOX_ATTRS, h, w)
            .permute(0, 1, 3, 4, 2)
        )

    @torch.no_grad()
    def init_bias(self, objectness_bias: float = DEFAULT_OBJECTNESS_BIAS) -> None:
        """Zero the head bias except objectness, which starts at ``objectness_bias``."""
        bias = self.out_conv.bias
        assert bias is not None
        per_anchor = bias.view(self.num_anchors, self.num_classes + NUM_BOX_ATTRS)
        per_anchor.zero_()
        per_anchor[:, OBJECTNESS_INDEX] = objectness_bias


class YoloModel(nn.Module):
    """Base of all detectors: ``forward`` returns three raw head outputs, coarse to fine.

    Each output has shape (N, 3, S, S, 5 + num_classes) for S = input_size / stride.
    """

    strides: tuple[int, int, int] = STRIDES

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, x: Tensor) -> list[Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def grid_sizes(self, input_size: int) -> tuple[int, ...]:
        """Grid size S of each head at ``input_size`` px, coarse to fine, measured by one forward pass of a
        blank image (in eval mode, so no batch-norm statistics change): what the heads really output,
        whatever strides the architecture has."""
        was_training = self.training
        first = next(module for module in self.modules() if isinstance(module, nn.Conv2d))
        blank = first.weight.new_zeros((1, first.in_channels, input_size, input_size))
        try:
            outputs = self.eval()(blank)
        finally:
            self.train(was_training)
        return tuple(int(output.shape[2]) for output in outputs)

    def heads(self) -> list[ScalePrediction]:
        """The detection heads in registration order (coarse to fine for both architectures)."""
        return [m for m in self.modules() if isinstance(m, ScalePrediction)]

    def init_head_bias(self, objectness_bias: float = DEFAULT_OBJECTNESS_BIAS) -> None:
        """Low objectness prior for from-scratch training; names/shapes unchanged, so loading works."""
        for head in self.heads():
            head.init_bias(objectness_bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def folded_batch_norms(module: ModuleT) -> ModuleT:
    """A copy of ``module`` in eval mode with each batch norm that follows a convolution folded into it: in
    eval mode a batch norm is a per-channel scale and shift the convolution can apply itself. Folded: a
    :class:`CNNBlock` that uses its batch norm (the detectors) and a convolution followed by a batch norm in
    an ``nn.Sequential`` (the namer's blocks). On these 2 cores PyTorch runs a namer call in about three
    quarters of the time and the detector's network in about nine tenths, with the same outputs up to float
    rounding (docs/experiments.md). onnxruntime folds them itself."""
    folded = copy.deepcopy(module).eval()
    for parent in list(folded.modules()):
        if isinstance(parent, CNNBlock) and parent.use_bn_act and isinstance(parent.bn, nn.BatchNorm2d):
            parent.conv, parent.bn = fuse_conv_bn_eval(parent.conv, parent.bn), nn.Identity()
        elif isinstance(parent, nn.Sequential):
            for name, following in itertools.pairwise(list(parent._modules)):
                conv, norm = parent._modules[name], parent._modules[following]
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                    parent._modules[name] = fuse_conv_bn_eval(conv, norm)
                    parent._modules[following] = nn.Identity()
    return folded

"""The YOLOv3 loss: objectness BCE (objects, background; 'ignore' cells excluded), class cross-entropy and a
box term.

The box term of the original (``box_loss: mse``) is the squared error of the sigmoid centre offsets and of
the log-size ratios; ``mse+giou`` adds 1 - GIoU of the decoded boxes. GIoU alone is not offered: with the
``exp(t) * anchor`` size parametrisation it diverged in a few steps here (box sizes blow up and the GIoU
gradient vanishes), while the log-size MSE keeps it anchored.

``objectness_iou`` (YOLOv5's ``gr``) moves a positive's objectness target from 1 towards the IoU of its
predicted box with the true one (``1 - g + g * IoU``), so that a box that fits its object scores above one
that covers half of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, generalized_box_iou_loss

from digit_detector.decode import cell_offset


@dataclass(frozen=True)
class LossWeights:
    box: float = 10.0
    objectness: float = 1.0
    background: float = 10.0
    classes: float = 1.0


def _cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    half = boxes[..., 2:] / 2
    return torch.cat((boxes[..., :2] - half, boxes[..., :2] + half), dim=-1)


class YoloLoss(nn.Module):
    """Sum over scales of the weighted loss terms; ``forward`` also returns the terms for logging.

    Built from ``configs/loss`` (its ``_target_``) with the model's anchors and ``xy_scale``. The anchor
    assignment its targets follow (``ignore_threshold``, ``positive_threshold``: see ``training.targets``)
    is part of the loss's definition and kept here, so that the data set builds the targets this loss expects.
    """

    def __init__(
        self,
        anchors: torch.Tensor,
        weights: LossWeights | None = None,
        box_loss: str = "mse",
        xy_scale: float = 1.0,
        ignore_threshold: float = 0.5,
        positive_threshold: float | None = None,
        objectness_iou: float = 0.0,
    ) -> None:
        super().__init__()
        if box_loss not in ("mse", "mse+giou"):
            raise ValueError(f"box_loss must be 'mse' or 'mse+giou', got {box_loss!r}")
        if not 0.0 <= objectness_iou <= 1.0:
            raise ValueError(f"objectness_iou must be in [0, 1], got {objectness_iou}")
        self.anchors: torch.Tensor
        self.register_buffer("anchors", anchors.float())
        self.weights = weights or LossWeights()
        self.box_loss = box_loss
        self.xy_scale = xy_scale
        self.ignore_threshold = ignore_threshold
        self.positive_threshold = positive_threshold
        self.objectness_iou = objectness_iou

    def forward(
        self, outputs: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = {name: outputs[0].new_zeros(()) for name in ("box", "objectness", "background", "classes")}
        for scale, (output, target) in enumerate(zip(outputs, targets, strict=True)):
            output = output.float()
            size = output.shape[2]
            positive = target[..., 0] == 1
            background = target[..., 0] == 0
            if background.any():
                terms["background"] += F.binary_cross_entropy_with_logits(
                    output[..., 0][background], torch.zeros_like(output[..., 0][background])
                )
            if not positive.any():
                continue
            predicted = output[positive]
            wanted = target[positive]
            anchors = self.anchors[scale].view(1, -1, 1, 1, 2).expand(*positive.shape, 2)[positive]
            offset = cell_offset(predicted[:, 1:3], self.xy_scale)
            # boxes in cell units of this scale
            predicted_size = predicted[:, 3:5].exp() * anchors * size
            predicted_box = _cxcywh_to_xyxy(torch.cat((offset, predicted_size), dim=-1))
            wanted_box = _cxcywh_to_xyxy(torch.cat((wanted[:, 1:3], wanted[:, 3:5] * size), dim=-1))
            objectness_target = torch.ones_like(predicted[:, 0])
            if self.objectness_iou > 0:
                fit = box_iou(predicted_box.detach(), wanted_box).diagonal().clamp(0, 1)
                objectness_target = 1 - self.objectness_iou + self.objectness_iou * fit
            terms["objectness"] += F.binary_cross_entropy_with_logits(predicted[:, 0], objectness_target)
            terms["classes"] += F.cross_entropy(predicted[:, 5:], wanted[:, 5].long())
            xy = F.mse_loss(offset, wanted[:, 1:3])
            wh = F.mse_loss(predicted[:, 3:5], torch.log(wanted[:, 3:5] / anchors + 1e-9))
            terms["box"] += xy + wh
            if self.box_loss == "mse+giou":
                terms["box"] += generalized_box_iou_loss(predicted_box, wanted_box, reduction="mean")
        w = self.weights
        total = (
            w.box * terms["box"]
            + w.objectness * terms["objectness"]
            + w.background * terms["background"]
            + w.classes * terms["classes"]
        )
        return total, {name: value.detach() for name, value in terms.items()}

"""Raw YOLO head outputs -> boxes, scores and classes; duplicate suppression with torchvision.

Head layout per scale (coarse to fine): ``(N, 3, S, S, 5 + C)`` with channels
``[objectness, x, y, w, h, class logits...]``; ``x, y`` are sigmoid offsets in the cell and
``w, h = exp(t) * anchor`` (anchors relative to the image). A detection's score is
``sigmoid(objectness) * softmax(class logits)[class]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torchvision.ops import batched_nms, box_area, nms

# exp(8) * the largest anchor already spans far beyond the image; the clamp only guards against inf.
MAX_LOG_SIZE = 8.0


def cell_offset(raw_xy: torch.Tensor, xy_scale: float = 1.0) -> torch.Tensor:
    """A box centre's offset within its grid cell from the raw head outputs (see ModelConfig.xy_scale)."""
    return raw_xy.sigmoid() * xy_scale - (xy_scale - 1.0) / 2


def decode(
    outputs: Sequence[torch.Tensor], anchors: torch.Tensor, input_size: int, xy_scale: float = 1.0
) -> torch.Tensor:
    """Decode all scales into one ``(N, K, 5 + C)`` tensor: ``x1, y1, x2, y2`` (input pixels), objectness
    probability, class probabilities. ``anchors`` is ``(scales, 3, 2)`` relative to the image.

    Pure tensor code, so it is exported to ONNX together with the network.
    """
    decoded = []
    for scale_output, scale_anchors in zip(outputs, anchors, strict=True):
        batch, num_anchors, rows, cols, channels = scale_output.shape
        ys = torch.arange(rows, dtype=scale_output.dtype, device=scale_output.device)
        xs = torch.arange(cols, dtype=scale_output.dtype, device=scale_output.device)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        anchor_wh = scale_anchors.to(scale_output).view(1, num_anchors, 1, 1, 2) * input_size
        offset = cell_offset(scale_output[..., 1:3], xy_scale)
        center_x = (offset[..., 0] + grid_x) * (input_size / cols)
        center_y = (offset[..., 1] + grid_y) * (input_size / rows)
        size = scale_output[..., 3:5].clamp(max=MAX_LOG_SIZE).exp() * anchor_wh
        half_w, half_h = size[..., 0] / 2, size[..., 1] / 2
        boxes = torch.stack(
            (center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h), dim=-1
        )
        objectness = scale_output[..., 0:1].sigmoid()
        class_probs = scale_output[..., 5:].softmax(dim=-1)
        decoded.append(torch.cat((boxes, objectness, class_probs), dim=-1).reshape(batch, -1, channels))
    return torch.cat(decoded, dim=1)


@dataclass(frozen=True)
class RawDetections:
    """Detections of one image in model-input pixels, best score first."""

    boxes: torch.Tensor  # (K, 4) xyxy
    scores: torch.Tensor  # (K,)
    class_ids: torch.Tensor  # (K,) int64
    objectness: torch.Tensor  # (K,)
    class_probs: torch.Tensor  # (K, C): the detector head's class probabilities


def contained(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """Mask of the boxes ``(K, 4)`` that lie more than ``threshold`` of their own area inside a larger box.

    Such a box is a part of a drawn object read as an object of its own (the stem of a 4 read as a 1);
    people do not draw one digit inside another.
    """
    if len(boxes) < 2:
        return torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    area = box_area(boxes)
    top_left = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inside = (bottom_right - top_left).clamp(min=0).prod(dim=2) / area[:, None].clamp(min=1e-9)
    larger = area[None, :] > area[:, None]  # [i, j]: box j is larger than box i
    return ((inside > threshold) & larger).any(dim=1)


def select(
    decoded: torch.Tensor,
    score_threshold: float,
    iou_threshold: float,
    class_agnostic: bool = True,
    max_detections: int = 100,
    containment_threshold: float | None = None,
    rank_by: str = "score",
) -> list[RawDetections]:
    """Threshold and suppress duplicates for each image of a decoded batch.

    ``rank_by="score"`` thresholds and ranks by objectness x best class probability (one-stage naming);
    ``"objectness"`` by objectness alone (is something drawn here), for a second stage to name the boxes.
    Class-agnostic suppression (the default) leaves one detection per drawn object even when the
    model hesitates between two classes; the per-class mode is the usual one for mAP evaluation.
    ``containment_threshold`` also drops detections lying mostly inside a larger one (see :func:`contained`).
    """
    if rank_by not in ("score", "objectness"):
        raise ValueError(f"rank_by must be 'score' or 'objectness', got {rank_by!r}")
    results = []
    for image_rows in decoded:
        best_probs, class_ids = image_rows[:, 5:].max(dim=-1)
        objectness = image_rows[:, 4]
        scores = objectness * best_probs if rank_by == "score" else objectness
        keep = scores >= score_threshold
        boxes, scores, class_ids = image_rows[keep, :4], scores[keep], class_ids[keep]
        objectness, class_probs = objectness[keep], image_rows[keep, 5:]
        if class_agnostic:
            kept = nms(boxes, scores, iou_threshold)
        else:
            kept = batched_nms(boxes, scores, class_ids, iou_threshold)
        kept = kept[:max_detections]
        if containment_threshold is not None:
            kept = kept[~contained(boxes[kept], containment_threshold)]
        results.append(
            RawDetections(boxes[kept], scores[kept], class_ids[kept], objectness[kept], class_probs[kept])
        )
    return results

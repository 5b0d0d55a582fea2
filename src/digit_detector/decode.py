"""Raw YOLO head outputs -> boxes, scores and classes; thresholds, duplicate suppression and containment.

:func:`select` and :func:`contained` run in numpy for both backends (tensors in, tensors out), so that
serving with onnxruntime needs no torch and there is one selection, not two. The NMS follows
torchvision's CPU kernel step for step (greedy, best score first, a box suppressed by IoU > threshold
with a kept one, IoU in float32 compared in float64) and keeps the same boxes as ``torchvision.ops.nms``
and ``batched_nms`` (tests/test_select_numpy.py checks it against them on random detections).

Head layout per scale (coarse to fine): ``(N, 3, S, S, 5 + C)`` with channels
``[objectness, x, y, w, h, class logits...]``; ``x, y`` are sigmoid offsets in the cell and
``w, h = exp(t) * anchor`` (anchors relative to the image). A detection's score is
``sigmoid(objectness) * softmax(class logits)[class]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from digit_detector.boxes import inside_share, is_tensor
from digit_detector.classes import is_digit

if TYPE_CHECKING:
    import torch

# A tensor for the torch backend, a numpy array for the onnxruntime one; a function returns the kind it takes.
ArrayT = TypeVar("ArrayT", "torch.Tensor", NDArray[Any])

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
    import torch

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
class RawDetections(Generic[ArrayT]):
    """Detections of one image in model-input pixels, best score first (tensors or numpy arrays)."""

    boxes: ArrayT  # (K, 4) xyxy
    scores: ArrayT  # (K,)
    class_ids: ArrayT  # (K,) int64
    objectness: ArrayT  # (K,)
    class_probs: ArrayT  # (K, C): the detector head's class probabilities


GROUP_COVER = 0.5  # parts whose areas add up to at least this share of a larger box can make it go
# A digit named with at least this probability, outscoring every box that holds it, lying less than
# NEIGHBOUR_INSIDE of its area inside each and reaching out of each by NEIGHBOUR_REACH of its width or
# height, is a touching neighbour, not a part (chosen on validation; the reach keeps a thin stroke that a
# pixel of rounding puts at a box's edge a part).
SURE_NAME = 0.8
NEIGHBOUR_INSIDE = 0.9
NEIGHBOUR_REACH = 0.1


def as_numpy(value: NDArray[Any] | torch.Tensor) -> NDArray[Any]:
    """``value`` as a numpy array (a tensor detached and moved to the CPU)."""
    return np.asarray(value.detach().cpu().numpy() if is_tensor(value) else value)


def _optional_numpy(value: NDArray[Any] | torch.Tensor | None) -> NDArray[Any] | None:
    return None if value is None else as_numpy(value)


def contained(
    boxes: ArrayT,
    threshold: float,
    scores: ArrayT | None = None,
    class_ids: NDArray[Any] | torch.Tensor | None = None,
    name_probs: ArrayT | None = None,
) -> ArrayT:
    """Mask of the boxes ``(K, 4)`` to drop as parts of a larger one: those lying more than ``threshold`` of
    their own area inside a larger box.

    Such a box is a part of a drawn object read as an object of its own (the stem of a 4 read as a 1);
    people do not draw one digit inside another. With ``scores`` ``(K,)`` a larger box can instead be the
    one to go, when the boxes it holds that score higher than it add up to :data:`GROUP_COVER` of its area
    and (with ``class_ids`` ``(K,)``) are all named digits: two or more of them make it a box around a
    group (a row of digits proposed once more as one `other`), and one named as the larger box is makes it a
    looser copy of that box. A word whose letters or a sun whose rays outscore it stays whole: its letters
    are not digits, its rays cover little of it; so does a `9` whose loop outscores it as a `0`. Without
    ``class_ids`` only groups of two or more count.

    With ``name_probs`` ``(K,)`` (the probability of each box's name) a digit named with at least
    :data:`SURE_NAME` that outscores every box holding it and sticks out of each (less than
    :data:`NEIGHBOUR_INSIDE` of it inside, reaching :data:`NEIGHBOUR_REACH` of that box's width or height
    beyond it) stays: it is a touching neighbour that a box too wide reaches into (the `5` of an `85`
    whose `8` box covers half of it), where a part lies wholly inside its digit.

    Computed in numpy; a tensor gives a tensor mask.
    """
    if is_tensor(boxes):
        import torch

        mask = contained(
            as_numpy(boxes),
            threshold,
            _optional_numpy(scores),
            _optional_numpy(class_ids),
            _optional_numpy(name_probs),
        )
        return torch.from_numpy(mask).to(boxes.device)
    boxes = np.asarray(boxes)
    if len(boxes) < 2:
        return np.zeros(len(boxes), dtype=bool)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = inside_share(boxes, boxes)
    larger = area[None, :] > area[:, None]  # [i, j]: box j is larger than box i
    if scores is not None:  # of two equal boxes (two parts fitted to the same stroke) the weaker is the part
        values = np.asarray(scores)
        ranked = np.lexsort((np.arange(len(values))[::-1], values))  # weakest first; the later box of a tie
        rank = np.empty(len(values), dtype=np.int64)
        rank[ranked] = np.arange(len(values))
        larger |= (area[None, :] == area[:, None]) & (rank[None, :] > rank[:, None])
    holds = (inside > threshold) & larger  # [i, j]: box i lies inside box j
    if scores is None:
        return np.asarray(holds.any(axis=1))
    stronger = holds & (values[:, None] > values[None, :])  # [i, j]: i inside j and scored higher
    count = stronger.sum(axis=0)
    group = count >= 2
    if class_ids is not None:
        ids = np.asarray(class_ids)
        digits = np.array([is_digit(int(i)) for i in ids], dtype=bool)
        group |= (count == 1) & (stronger & (ids[:, None] == ids[None, :])).any(axis=0)  # a looser copy
        group &= ~(stronger & ~digits[:, None]).any(axis=0)
    group &= (stronger * area[:, None]).sum(axis=0) >= GROUP_COVER * area
    holders = holds & ~group[None, :]  # [i, j]: box j keeps box i out
    part = holders.any(axis=1)
    if class_ids is not None and name_probs is not None:
        size = np.maximum(boxes[:, 2:] - boxes[:, :2], boxes.dtype.type(1e-9))  # (K, 2): width, height
        beyond = np.maximum(boxes[:, None, 2:] - boxes[None, :, 2:], boxes[None, :, :2] - boxes[:, None, :2])
        reach = (beyond / size[None, :, :]).max(axis=2)  # [i, j]: how far box i reaches out of box j
        sticks_out = (inside < NEIGHBOUR_INSIDE) & (reach >= NEIGHBOUR_REACH)
        beside = (values[:, None] > values[None, :]) & sticks_out
        neighbour = digits & (np.asarray(name_probs) >= SURE_NAME) & (~holders | beside).all(axis=1)
        part &= ~neighbour
    return np.asarray(part | group)


def nms_numpy(boxes: NDArray[Any], scores: NDArray[Any], iou_threshold: float) -> NDArray[np.int64]:
    """torchvision.ops.nms in numpy: indices of the kept boxes ``(K, 4)``, best score first.

    Greedy as torchvision's CPU kernel: the best remaining box is kept and every box overlapping it with
    IoU > ``iou_threshold`` is dropped; IoU is computed in the boxes' dtype and compared in float64.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    zero = boxes.dtype.type(0)
    threshold = np.float64(iou_threshold)  # torchvision compares the float IoU with the double threshold
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        width = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        height = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = width * height
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > threshold)]  # NaN IoU (two empty boxes) suppresses nothing, as in torchvision
    return np.asarray(keep, dtype=np.int64)


def batched_nms_numpy(
    boxes: NDArray[Any], scores: NDArray[Any], classes: NDArray[Any], iou_threshold: float
) -> NDArray[np.int64]:
    """torchvision.ops.batched_nms in numpy: NMS within each class only, kept indices best score first.

    As torchvision on the CPU: up to 1000 boxes, each class's boxes are shifted apart by
    ``class x (largest coordinate + 1)`` and suppressed together; more boxes run class by class.
    """
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    if boxes.size <= 4000:
        offsets = classes.astype(boxes.dtype) * (boxes.max() + boxes.dtype.type(1))
        return nms_numpy(boxes + offsets[:, None], scores, iou_threshold)
    keep = np.zeros(len(boxes), dtype=bool)
    for class_id in np.unique(classes):
        members = np.flatnonzero(classes == class_id)
        keep[members[nms_numpy(boxes[members], scores[members], iou_threshold)]] = True
    kept = np.flatnonzero(keep)
    return kept[np.argsort(-scores[kept], kind="stable")]


def _select_numpy(
    decoded: NDArray[Any],
    score_threshold: float,
    iou_threshold: float,
    class_agnostic: bool,
    max_detections: int,
    rank_by: str,
) -> list[RawDetections[NDArray[Any]]]:
    """:func:`select` in numpy, step for step."""
    results = []
    for image_rows in decoded:
        class_ids = image_rows[:, 5:].argmax(axis=-1)
        best_probs = np.take_along_axis(image_rows[:, 5:], class_ids[:, None], axis=-1)[:, 0]
        objectness = image_rows[:, 4]
        scores = objectness * best_probs if rank_by == "score" else objectness
        keep = scores >= score_threshold
        boxes, scores, class_ids = image_rows[keep, :4], scores[keep], class_ids[keep]
        objectness, class_probs = objectness[keep], image_rows[keep, 5:]
        if class_agnostic:
            kept = nms_numpy(boxes, scores, iou_threshold)
        else:
            kept = batched_nms_numpy(boxes, scores, class_ids, iou_threshold)
        kept = kept[:max_detections]
        results.append(
            RawDetections(boxes[kept], scores[kept], class_ids[kept], objectness[kept], class_probs[kept])
        )
    return results


def select(
    decoded: ArrayT,
    score_threshold: float,
    iou_threshold: float,
    class_agnostic: bool = True,
    max_detections: int = 100,
    rank_by: str = "score",
) -> list[RawDetections[ArrayT]]:
    """Threshold and suppress duplicates for each image of a decoded batch.

    ``rank_by="score"`` thresholds and ranks by objectness x best class probability (one-stage naming);
    ``"objectness"`` by objectness alone (is something drawn here), for a second stage to name the boxes.
    Class-agnostic suppression (the default) leaves one detection per drawn object even when the
    model hesitates between two classes; the per-class mode is the usual one for mAP evaluation.
    Boxes lying mostly inside a larger one are dropped later, once they are named (see :func:`contained`).
    Selection runs in numpy (no torch needed, one implementation for both backends); a tensor ``decoded``
    gives tensor detections on its device.
    """
    if rank_by not in ("score", "objectness"):
        raise ValueError(f"rank_by must be 'score' or 'objectness', got {rank_by!r}")
    if not is_tensor(decoded):
        return _select_numpy(
            np.asarray(decoded),
            score_threshold,
            iou_threshold,
            class_agnostic,
            max_detections,
            rank_by,
        )
    import torch

    found = _select_numpy(
        as_numpy(decoded),
        score_threshold,
        iou_threshold,
        class_agnostic,
        max_detections,
        rank_by,
    )
    return [
        RawDetections(
            *(
                torch.from_numpy(np.ascontiguousarray(field)).to(decoded.device)
                for field in (raw.boxes, raw.scores, raw.class_ids, raw.objectness, raw.class_probs)
            )
        )
        for raw in found
    ]

"""YOLOv3 training targets, built per scale in the data loader.

Each ground-truth box goes to the one anchor (of all 9) whose shape matches it best (IoU of the (w, h)
pairs), in the grid cell holding its centre at that anchor's scale. Other anchors whose shape IoU with a box
exceeds ``ignore_threshold`` are marked "ignore" in that box's cell at their own scale, so they are not pushed
towards background for a box they could well predict (as in YOLOv3).

With ``positive_threshold`` set, those well-matching anchors are not merely ignored but trained on the box
too (more positives per object, as later YOLO versions do): each object then teaches the classifier and the
box regressor at several anchors per step instead of one, which matters when a CPU run sees few epochs.
"""

from __future__ import annotations

import torch

TARGET_CHANNELS = (
    6  # objectness (1 object, 0 background, -1 ignore), x, y in the cell, w, h (image-relative), class
)


def shape_iou(wh_a: torch.Tensor, wh_b: torch.Tensor) -> torch.Tensor:
    """IoU of boxes aligned at one corner: (N, 2) x (M, 2) -> (N, M)."""
    intersection = torch.minimum(wh_a[:, None, 0], wh_b[None, :, 0]) * torch.minimum(
        wh_a[:, None, 1], wh_b[None, :, 1]
    )
    union = (wh_a[:, 0] * wh_a[:, 1])[:, None] + (wh_b[:, 0] * wh_b[:, 1])[None, :] - intersection
    return intersection / union


def build_targets(
    boxes_xyxy: torch.Tensor,
    class_ids: torch.Tensor,
    anchors: torch.Tensor,
    grid_sizes: tuple[int, ...],
    input_size: int,
    ignore_threshold: float = 0.5,
    positive_threshold: float | None = None,
    xy_scale: float = 1.0,
) -> list[torch.Tensor]:
    """Targets ``(3, S, S, 6)`` per scale for one image.

    Boxes are xyxy in model-input pixels; ``anchors`` is ``(scales, 3, 2)``, relative to the image.
    ``positive_threshold``: also assign each box to every anchor whose shape IoU with it exceeds this
    (``None``: the best anchor only, as in YOLOv3). ``xy_scale`` (ModelConfig.xy_scale) > 1 lets a centre
    be predicted from a neighbouring cell up to ``(xy_scale - 1) / 2`` cells away, so each box is also
    assigned to the left/right and upper/lower neighbour whose shared edge is that close to its centre
    (YOLOv5's rule at 2.0): an object near a cell border no longer splits its objectness between two
    cells, one of them trained as background.
    """
    num_scales, per_scale = anchors.shape[:2]
    if num_scales != len(grid_sizes):
        raise ValueError(f"{num_scales} anchor scales but {len(grid_sizes)} grid sizes")
    targets = [torch.zeros(per_scale, size, size, TARGET_CHANNELS) for size in grid_sizes]
    if boxes_xyxy.numel() == 0:
        return targets
    boxes = boxes_xyxy.float() / input_size
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-6)
    ious = shape_iou(sizes, anchors.reshape(-1, 2))  # (n, 9)
    best = ious.argmax(dim=1)  # (n,) index of each box's best anchor of all scales
    positive = torch.zeros_like(ious, dtype=torch.bool)
    positive[torch.arange(len(ious)), best] = True
    if positive_threshold is not None:
        positive |= ious > positive_threshold
    margin = (xy_scale - 1.0) / 2

    for scale, size in enumerate(grid_sizes):
        target = targets[scale]
        grid_xy = centers * size
        cells = grid_xy.long().clamp(0, size - 1)  # (n, 2) as (col, row)
        cols, rows = cells[:, 0], cells[:, 1]
        # ignore first, then positives overwrite (so a positive never becomes ignore)
        scale_ious = ious[:, scale * per_scale : (scale + 1) * per_scale]  # (n, 3)
        box_index, anchor_index = torch.nonzero(scale_ious > ignore_threshold, as_tuple=True)
        target[anchor_index, rows[box_index], cols[box_index], 0] = -1.0
        scale_positive = positive[:, scale * per_scale : (scale + 1) * per_scale]
        box_index, anchor_index = torch.nonzero(scale_positive, as_tuple=True)
        if box_index.numel() == 0:
            continue
        is_best = best[box_index] == scale * per_scale + anchor_index
        within = grid_xy - cells  # centre inside its cell, 0..1
        # (column shift, row shift, which boxes): the centre cell, then the neighbours in reach
        placements = [(0, 0, torch.ones_like(cols, dtype=torch.bool))]
        if margin > 0:
            placements += [
                (-1, 0, (within[:, 0] < margin) & (cols > 0)),
                (1, 0, (within[:, 0] > 1 - margin) & (cols < size - 1)),
                (0, -1, (within[:, 1] < margin) & (rows > 0)),
                (0, 1, (within[:, 1] > 1 - margin) & (rows < size - 1)),
            ]
        entries = []  # (box, anchor, row, col, priority): higher priority is written later and wins a cell
        for shift_col, shift_row, reaches in placements:
            chosen = reaches[box_index]
            b, a = box_index[chosen], anchor_index[chosen]
            priority = is_best[chosen].long() + (2 if shift_col == shift_row == 0 else 0)
            entries.append((b, a, rows[b] + shift_row, cols[b] + shift_col, priority))
        b, a, r, c, priority = (torch.cat(parts) for parts in zip(*entries, strict=True))
        order = torch.argsort(priority, stable=True)
        b, a, r, c = b[order], a[order], r[order], c[order]
        target[a, r, c, 0] = 1.0
        target[a, r, c, 1] = grid_xy[b, 0] - c
        target[a, r, c, 2] = grid_xy[b, 1] - r
        target[a, r, c, 3:5] = sizes[b]
        target[a, r, c, 5] = class_ids[b].float()
    return targets

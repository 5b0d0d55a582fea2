"""Ink: the dark pixels of a drawing, and boxes fitted to them.

The training labels are the tight extent of each object's dark pixels (< ``DARK_THRESHOLD``, see
:func:`digit_detector.data.augment.ink_boxes`). The detector regresses boxes a few pixels off that extent,
which costs most where a pixel matters: at high IoU (mAP@0.5:0.95) and on small or thin objects (a ``1``
six pixels wide). :func:`fit_boxes_to_ink` snaps each found box to the ink it covers:

- the ink in the box's neighbourhood (the box grown by half its width and height) is split into
  8-connected strokes;
- a stroke with at least ``whole_share`` of its pixels inside the box belongs to the object: the fitted box
  covers all of it, so a box that cut a stroke short grows to the stroke's end;
- a stroke mostly outside the box (a touching neighbour, a long line crossing it), or one that runs on
  past the neighbourhood (a wider neighbour it touches: the 8 of a touching ``85`` is not fitted over the
  5), counts only with its pixels inside the box;
- a box with no ink inside keeps its place, and so does every box of an image whose background is dark
  (the whole neighbourhood is one stroke reaching outside the box: what is inside is the box itself).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from digit_detector.preprocess import grey_plane

DARK_THRESHOLD = 128  # a pixel < 128 is ink (on white paper)
WHOLE_SHARE = 0.8  # a stroke with this share of its pixels inside a box is all the box's
NEIGHBOURHOOD = 0.5  # a box's strokes are looked for in the box grown by this share of its size


def fit_boxes_to_ink(
    rgb_or_gray: NDArray[np.uint8],
    boxes_xyxy: NDArray[np.floating],
    *,
    whole_share: float = WHOLE_SHARE,
    dark_threshold: int = DARK_THRESHOLD,
) -> NDArray[np.float64]:
    """Boxes ``(K, 4)`` (xyxy, image pixels) fitted to the ink of an HxW gray or HxWx3 RGB uint8 image."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    fitted = boxes.copy()
    gray = rgb_or_gray if rgb_or_gray.ndim == 2 or not len(boxes) else _grey(rgb_or_gray)
    height, width = gray.shape[:2]
    for index, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        grow_x, grow_y = NEIGHBOURHOOD * (x2 - x1), NEIGHBOURHOOD * (y2 - y1)
        left, top = max(math.floor(x1 - grow_x), 0), max(math.floor(y1 - grow_y), 0)
        right, bottom = min(math.ceil(x2 + grow_x), width), min(math.ceil(y2 + grow_y), height)
        # the box in the neighbourhood's pixels
        box_left, box_top = max(math.floor(x1), left) - left, max(math.floor(y1), top) - top
        box_right, box_bottom = min(math.ceil(x2), right) - left, min(math.ceil(y2), bottom) - top
        if box_right <= box_left or box_bottom <= box_top:
            continue
        dark = (gray[top:bottom, left:right] < dark_threshold).astype(np.uint8)
        # labels only: OpenCV's per-stroke statistics cost ten times the labelling itself
        _, strokes = cv2.connectedComponents(dark, connectivity=8)
        inside = strokes[box_top:box_bottom, box_left:box_right]
        ids, counts = np.unique(inside[inside > 0], return_counts=True)
        if not len(ids):
            continue
        reaching_out = _strokes_on_cut_edges(
            np.asarray(strokes), (left > 0, top > 0, right < width, bottom < height)
        )
        extents = []
        for stroke, count in zip(ids.tolist(), counts.tolist(), strict=True):
            # the stroke is the box's (all of it counts) when most of it is inside and all of it is in
            # view: one that runs on past the neighbourhood is joined to something else. (Its area from
            # its own mask: a bincount of every label costs more than all the rest of the fit.)
            stroke_mask = strokes == stroke
            whole = stroke not in reaching_out and count >= whole_share * cv2.countNonZero(
                stroke_mask.view(np.uint8)
            )
            mask = stroke_mask if whole else stroke_mask[box_top:box_bottom, box_left:box_right]
            x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
            x0, y0 = (x, y) if whole else (box_left + x, box_top + y)
            extents.append((x0, y0, x0 + w, y0 + h))
        spans = np.asarray(extents, dtype=np.float64)
        fitted[index] = (
            left + spans[:, 0].min(),
            top + spans[:, 1].min(),
            left + spans[:, 2].max(),
            top + spans[:, 3].max(),
        )
    return fitted


def _grey(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The grey levels of an HxWx3 image: its one plane when its channels are equal (what OpenCV's
    conversion gives such an image, pixel for pixel, in a third of the time), else the conversion."""
    plane = grey_plane(rgb)
    return plane if plane is not None else np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def _strokes_on_cut_edges(strokes: NDArray[np.integer], cut: tuple[bool, bool, bool, bool]) -> set[int]:
    """The stroke labels on the edges of a neighbourhood where it cuts the image (left, top, right, bottom
    flags): strokes that run on outside it."""
    edges = (strokes[:, 0], strokes[0, :], strokes[:, -1], strokes[-1, :])
    return {
        int(label) for edge, is_cut in zip(edges, cut, strict=True) if is_cut for label in np.unique(edge)
    } - {0}

"""Box drawings of one known class automatically (a folder of "4"s -> labelled "4"s).

Each image is thresholded (Otsu; ink is whatever differs from the background, so dark-on-light
and light-on-dark drawings both work), its outer contours are boxed, specks are dropped, and the
stroke boxes of one object drawn in several pieces are merged: two boxes join when they overlap
or the gap between them is at most ``gap`` x the larger box's longer side (default 0.15),
repeated until nothing changes. Images with exactly one object get a YOLO label file **next to
the image** (``x.png`` -> ``x.txt``, one line ``class xc yc w h``), which ``data import DIR
--format yolo`` then brings into a dataset. The rest (no object, several objects, unreadable)
are listed for review in ``review.txt`` in the folder and returned. Existing label files are
kept unless ``overwrite``; the images themselves are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.classes import CLASS_NAMES
from digit_detector.data.coco import class_id_for_name
from digit_detector.data.yolo_format import Problem, atomic_write_bytes, format_label_lines, list_images
from digit_detector.io import read_gray
from digit_detector.preprocess import ImageInputError

DEFAULT_GAP = 0.15
DEFAULT_SPECK = 0.02
REVIEW_FILE = "review.txt"


@dataclass
class AutolabelResult:
    """Images labelled, images left for review (with the reason) and labels kept as they were."""

    labelled: list[Path] = field(default_factory=list)
    review: list[Problem] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def ink_mask(gray: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """255 where there is ink: Otsu threshold, inverted when the background (median) is light."""
    if int(gray.max()) - int(gray.min()) < 32:
        return np.zeros_like(gray)
    light_background = float(np.median(gray)) >= 128
    mode = cv2.THRESH_BINARY_INV if light_background else cv2.THRESH_BINARY
    _, mask = cv2.threshold(gray, 0, 255, mode | cv2.THRESH_OTSU)
    return np.asarray(mask, dtype=np.uint8)


def stroke_boxes(mask: NDArray[np.uint8], speck: float = DEFAULT_SPECK) -> NDArray[np.float64]:
    """xyxy pixel boxes of the outer contours, without specks (longer side < speck x image side)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 4), dtype=np.float64)
    rects = np.asarray([cv2.boundingRect(c) for c in contours], dtype=np.float64).reshape(-1, 4)
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    min_side = max(2.0, speck * max(mask.shape[:2]))
    return boxes[np.maximum(rects[:, 2], rects[:, 3]) >= min_side]


def merge_boxes(boxes: NDArray[np.floating], gap: float = DEFAULT_GAP) -> NDArray[np.float64]:
    """Merge xyxy boxes that overlap or lie within ``gap`` x the larger one's longer side, until stable."""
    current = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    while len(current) > 1:
        sides = np.maximum(current[:, 2] - current[:, 0], current[:, 3] - current[:, 1])
        areas = (current[:, 2] - current[:, 0]) * (current[:, 3] - current[:, 1])
        larger = np.where(areas[:, None] >= areas[None, :], sides[:, None], sides[None, :])
        dx = np.maximum(current[None, :, 0], current[:, None, 0]) - np.minimum(
            current[None, :, 2], current[:, None, 2]
        )
        dy = np.maximum(current[None, :, 1], current[:, None, 1]) - np.minimum(
            current[None, :, 3], current[:, None, 3]
        )
        limit = gap * larger
        near = (np.maximum(dx, 0) <= limit) & (np.maximum(dy, 0) <= limit)
        # Connected components of the "near" graph: boolean transitive closure by squaring.
        reach = near | np.eye(len(current), dtype=bool)
        while True:
            grown = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
            if np.array_equal(grown, reach):
                break
            reach = grown
        _, first = np.unique(reach, axis=0, return_index=True)
        groups = reach[np.sort(first)]
        if len(groups) == len(current):
            break
        current = np.stack(
            [np.concatenate([current[g, :2].min(axis=0), current[g, 2:].max(axis=0)]) for g in groups]
        )
    return current


def find_objects(
    image: NDArray[np.uint8], gap: float = DEFAULT_GAP, speck: float = DEFAULT_SPECK
) -> NDArray[np.float64]:
    """xyxy pixel boxes of the drawn objects in an RGB or grayscale image."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return merge_boxes(stroke_boxes(ink_mask(np.ascontiguousarray(gray)), speck), gap)


def parse_class(value: str) -> int:
    """A class id from its id or name (``"4"``, ``"10"``, ``"censored"``); ValueError otherwise."""
    class_id = class_id_for_name(value)
    if class_id is None:
        raise ValueError(
            f"unknown class {value!r}; use an id 0..{len(CLASS_NAMES) - 1} or one of {list(CLASS_NAMES)}"
        )
    return class_id


def autolabel(
    folder: Path,
    class_id: int,
    gap: float = DEFAULT_GAP,
    speck: float = DEFAULT_SPECK,
    overwrite: bool = False,
    progress: bool | None = None,
) -> AutolabelResult:
    """Label every single-object image in ``folder`` as ``class_id``; the rest go to ``review.txt``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if not 0 <= class_id < len(CLASS_NAMES):
        raise ValueError(f"class {class_id} is out of range 0..{len(CLASS_NAMES) - 1}")
    result = AutolabelResult()
    images = list_images(folder)
    for path in tqdm(
        images, desc="autolabel", unit="img", disable=None if progress is None else not progress
    ):
        label_path = path.with_suffix(".txt")
        if label_path.exists() and not overwrite:
            result.kept.append(path)
            continue
        try:
            gray = read_gray(path)
        except ImageInputError as error:
            result.review.append(Problem(path, f"unreadable image ({error})"))
            continue
        boxes = find_objects(gray, gap, speck)
        if len(boxes) != 1:
            listed = "; ".join(f"[{', '.join(f'{v:g}' for v in box)}]" for box in boxes)
            reason = "no object found" if len(boxes) == 0 else f"{len(boxes)} objects found: {listed}"
            result.review.append(Problem(path, reason))
            continue
        height, width = gray.shape
        text = format_label_lines(np.asarray([class_id]), boxes, (width, height))
        atomic_write_bytes(label_path, text.encode())
        result.labelled.append(path)
    review_text = "".join(f"{p.path.name}\t{p.reason}\n" for p in result.review)
    atomic_write_bytes(folder / REVIEW_FILE, review_text.encode())
    return result

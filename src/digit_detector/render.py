"""Pictures of detections: boxes and labels drawn over an image (one colour per class), and grids of them.

Pillow only (the app imports it; matplotlib charts live in :mod:`digit_detector.plots`). :func:`annotate` is
the one picture of a detection result: the app's result image and its PNG download,
``DetectionResult.plot``/``save`` and ``predict --save``. :func:`draw_boxes` also draws every contact sheet:
``data show``, the evaluation's ``worst_errors.png`` and the label audit's ``suspects.png``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.classes import CENSORED_ID, CLASS_NAMES

if TYPE_CHECKING:
    from digit_detector.results import Detection

# One colour per class (0-9 digits, censored, other), distinct on white paper.
CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 150, 150), (240, 50, 230), (128, 128, 0), (0, 0, 128), (170, 110, 40),
    (90, 90, 90), (128, 0, 0),
)  # fmt: skip


def class_colour(class_id: int) -> tuple[int, int, int]:
    return CLASS_COLOURS[class_id % len(CLASS_COLOURS)]


def draw_boxes(
    image: Image.Image,
    boxes_xyxy: NDArray[np.floating] | Sequence[Sequence[float]],
    class_ids: Sequence[int],
    scores: Sequence[float] | None = None,
    *,
    line_width: int | None = None,
    font_size: int | None = None,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """A copy of ``image`` (RGB) with each box outlined in its class colour and a filled label tag
    (``labels`` replaces the class names in the tags, e.g. ``"4 or 9"``)."""
    result = image.convert("RGB")
    draw = ImageDraw.Draw(result)
    side = min(result.size)
    line_width = line_width or max(2, round(side / 150))
    font = ImageFont.load_default(size=font_size or max(11, round(side / 25)))
    for index, (box, class_id) in enumerate(
        zip(np.asarray(boxes_xyxy).reshape(-1, 4), class_ids, strict=True)
    ):
        colour = class_colour(int(class_id))
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=line_width)
        name = CLASS_NAMES[int(class_id)] if labels is None else labels[index]
        text = name + (f" {scores[index]:.2f}" if scores is not None else "")
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tag_w, tag_h = right - left + 6, bottom - top + 4
        tag_y = y1 - tag_h if y1 - tag_h >= 0 else y1
        draw.rectangle([x1, tag_y, x1 + tag_w, tag_y + tag_h], fill=colour)
        draw.text((x1 + 3 - left, tag_y + 2 - top), text, fill="white", font=font)
    return result


def pixelate(
    image: Image.Image, boxes_xyxy: NDArray[np.floating] | Sequence[Sequence[float]], block: int = 14
) -> Image.Image:
    """A copy of ``image`` with each box's region pixelated beyond recognition."""
    result = image.convert("RGB")
    for box in np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4):
        x1, y1 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x2, y2 = min(result.width, math.ceil(box[2])), min(result.height, math.ceil(box[3]))
        if x2 <= x1 or y2 <= y1:
            continue
        region = result.crop((x1, y1, x2, y2))
        small = region.resize(
            (max(1, (x2 - x1) // block), max(1, (y2 - y1) // block)), Image.Resampling.BILINEAR
        )
        result.paste(small.resize(region.size, Image.Resampling.NEAREST), (x1, y1))
    return result


def annotate(picture: Image.Image, detections: Sequence[Detection], *, scale: int = 1) -> Image.Image:
    """``picture`` (the image the detections were found in, on white: see ``preprocess.to_rgb``) with the
    censored objects pixelated first, then enlarged ``scale`` times, then every box drawn in its class colour
    with its shown label (``"4 or 9"``) and score. A new RGB image; ``picture`` is not changed."""
    censored = [d.box for d in detections if d.class_id == CENSORED_ID]
    picture = pixelate(picture, censored) if censored else picture.convert("RGB")
    if scale != 1:
        # Pixel doubling, not bilinear: the drawing is antialiased already, and the boxes and labels drawn
        # after it at full resolution are what the enlargement is for (0.5 ms for 400 -> 800, not 6).
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return draw_boxes(
        picture,
        np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4) * scale,
        [d.class_id for d in detections],
        [d.score for d in detections],
        labels=[d.shown_label for d in detections],
    )


def grid(
    tiles: Sequence[Image.Image], columns: int, tile_size: int | tuple[int, int] = 240, gap: int = 4
) -> Image.Image:
    """A contact sheet: tiles shrunk to fit ``tile_size`` cells (a square side, or (width, height)) and laid
    out row by row, top-left in their cell, on a light gray background that shows as ``gap`` lines."""
    cell_w, cell_h = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
    if not tiles:
        return Image.new("RGB", (cell_w, cell_h), "white")
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new("RGB", (columns * (cell_w + gap) + gap, rows * (cell_h + gap) + gap), (200, 200, 200))
    for index, tile in enumerate(tiles):
        row, col = divmod(index, columns)
        tile = tile.convert("RGB")
        tile.thumbnail((cell_w, cell_h))
        sheet.paste(tile, (gap + col * (cell_w + gap), gap + row * (cell_h + gap)))
    return sheet

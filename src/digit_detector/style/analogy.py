"""A drawing in, all ten digits in its hand out: detect the digit, crop it, encode its style, decode 0-9.

Library code shared by ``python -m digit_detector style`` and the app's "Your style" page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.classes import is_digit
from digit_detector.detector import Detection, Detector
from digit_detector.preprocess import ImageLike
from digit_detector.render import class_colour
from digit_detector.style.crops import CROP_SIZE, NoInkError, crop_from_image
from digit_detector.style.model import NUM_DIGITS, StyleCVAE

Ink = NDArray[np.float32]

TILE_SIZE = 96
TILE_GAP = 4
CAPTION_HEIGHT = 22
# The decoder gives ink probabilities (soft edges); this ramp turns them into pen-like strokes.
INK_LOW, INK_HIGH = 0.2, 0.7


class NoDigitError(ValueError):
    """No digit was found in the drawing (and no label was given)."""


def drawn_ink(probabilities: NDArray[np.floating] | torch.Tensor) -> Ink:
    """Decoder probabilities -> pen-like ink (a linear ramp from INK_LOW to INK_HIGH, clipped to 0..1)."""
    if isinstance(probabilities, torch.Tensor):
        probabilities = probabilities.detach().cpu().numpy()
    ramp = (np.asarray(probabilities, dtype=np.float32) - INK_LOW) / (INK_HIGH - INK_LOW)
    return np.clip(ramp, 0.0, 1.0).astype(np.float32)


def find_digit(detector: Detector, image: ImageLike) -> Detection | None:
    """The highest-scoring digit detection in ``image`` (None when no digit is found)."""
    digits = [d for d in detector(image).detections if is_digit(d.class_id)]
    return max(digits, key=lambda d: d.score) if digits else None


@dataclass
class StyleRow:
    """One analogy: the input crop, its label, where it came from, and the ten digits in its style."""

    label: int
    crop: Ink  # (S, S) the model's input
    digits: Ink  # (10, S, S) pen-like ink, digit k at index k
    detection: Detection | None  # the detection the crop was cut from (None: the whole drawing)
    label_source: str  # "detected" or "given"

    def image(self, tile: int = TILE_SIZE, with_input: bool = False) -> Image.Image:
        return row_image(
            self.digits, highlight=self.label, tile=tile, input_crop=self.crop if with_input else None
        )


def ink_tile(ink: Ink, tile: int) -> Image.Image:
    """Black ink on white paper, ``tile`` px square."""
    gray = np.rint((1.0 - np.clip(ink, 0.0, 1.0)) * 255.0).astype(np.uint8)
    return Image.fromarray(gray, "L").resize((tile, tile), Image.Resampling.BICUBIC).convert("RGB")


def row_image(
    digits: Ink, highlight: int | None = None, tile: int = TILE_SIZE, input_crop: Ink | None = None
) -> Image.Image:
    """The ten digits side by side, each captioned; the input's own class framed in its colour.

    With ``input_crop``, the input comes first, captioned "yours".
    """
    tiles: list[tuple[Ink, str, tuple[int, int, int] | None]] = []
    if input_crop is not None:
        tiles.append((input_crop, "yours", (90, 90, 90)))
    for k in range(len(digits)):
        tiles.append((digits[k], str(k), class_colour(k) if k == highlight else None))
    width = len(tiles) * (tile + TILE_GAP) + TILE_GAP
    sheet = Image.new("RGB", (width, tile + CAPTION_HEIGHT + 2 * TILE_GAP), (225, 225, 230))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for index, (ink, caption, frame) in enumerate(tiles):
        x = TILE_GAP + index * (tile + TILE_GAP)
        sheet.paste(ink_tile(ink, tile), (x, TILE_GAP))
        if frame is not None:
            draw.rectangle([x, TILE_GAP, x + tile - 1, TILE_GAP + tile - 1], outline=frame, width=3)
        left, _, right, _ = draw.textbbox((0, 0), caption, font=font)
        draw.text(
            (x + (tile - (right - left)) / 2, TILE_GAP + tile + 3),
            caption,
            fill=frame or (60, 60, 60),
            font=font,
        )
    return sheet


def style_row(
    model: StyleCVAE,
    image: ImageLike,
    detector: Detector | None = None,
    label: int | None = None,
    *,
    sample: bool = False,
    seed: int = 0,
    strength: float = 1.0,
) -> StyleRow:
    """All ten digits in the style of the digit drawn in ``image``.

    The digit is the detector's best digit detection (its box is cropped) and its label, unless ``label``
    is given: then the best detection of any class gives the box, or the whole drawing when there is none.
    The style is the posterior mean, or with ``sample`` a draw seeded by ``seed``, scaled by ``strength``
    (see ``model.style_strength``).
    Raises NoDigitError (no digit and no label) or NoInkError (nothing drawn).
    """
    if label is not None and not 0 <= label < NUM_DIGITS:
        raise ValueError(f"label must be a digit 0-9, got {label}")
    detection: Detection | None = None
    if detector is not None:
        if label is None:
            detection = find_digit(detector, image)
        else:
            found = detector(image).detections
            detection = max(found, key=lambda d: d.score) if found else None
    if label is None:
        if detection is None:
            raise NoDigitError(
                "no digit found in the drawing: draw one digit larger and clearer, or give its label"
            )
        label = detection.class_id
        label_source = "detected"
    else:
        label_source = "given"
    crop = crop_from_image(image, detection.box if detection is not None else None, model.config.size)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        probabilities = model.analogies(
            torch.from_numpy(crop)[None],
            torch.tensor([label]),
            generator=generator,
            sample=sample,
            strength=strength,
        )[0]
    return StyleRow(label, crop, drawn_ink(probabilities), detection, label_source)


__all__ = [
    "CROP_SIZE",
    "NoDigitError",
    "NoInkError",
    "StyleRow",
    "drawn_ink",
    "find_digit",
    "row_image",
    "style_row",
]

"""A drawing in, all ten digits in its hand out: detect the digit, crop it, encode its style, decode 0-9.

Library code shared by ``python -m digit_detector style`` and the app's "Your style" page.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.classes import is_digit
from digit_detector.data.strokes import trace_glyph
from digit_detector.detector import Detection, Detector
from digit_detector.preprocess import ImageLike
from digit_detector.render import class_colour
from digit_detector.style.crops import CROP_MARGIN, CROP_SIZE, NoInkError, crop_from_image, image_ink
from digit_detector.style.metrics import TOP1_SCORE, slant, thickness
from digit_detector.style.model import NUM_DIGITS, StyleCVAE

Ink = NDArray[np.float32]

TILE_SIZE = 96
TILE_GAP = 4
CAPTION_HEIGHT = 22
# The decoder gives ink probabilities (soft edges); this ramp turns them into pen-like strokes.
INK_LOW, INK_HIGH = 0.2, 0.7
#: How the decoded digits are inked: "crisp" (thresholded, thinned to centre lines and re-drawn with the
#: pen at the input's measured stroke width, CRISP_SCALE times the crop's resolution) or "soft" (the
#: decoder's probabilities through the INK_LOW..INK_HIGH ramp, a blurry 32 px bitmap).
RENDERS = ("crisp", "soft")
DEFAULT_RENDER = "crisp"
CRISP_SCALE = 4
CRISP_LEVEL = 0.25  # decoder probability that counts as ink before thinning
CRISP_LOW = 0.25  # fainter ink counts where it joins ink above CRISP_LEVEL (hysteresis_mask)
# per digit where validation chose another low level: the decoder draws a 9's tail faintly
CRISP_LOW_BY_DIGIT = {9: 0.1}
CRISP_CLOSE = 0  # closing (px at CRISP_SCALE) of the thresholded ink before thinning
PEN_RANGE = (1.0, 6.0)  # the re-inking pen, in crop pixels (the crop is CROP_SIZE wide)
PEN_BIAS = 0.4  # metrics.thickness reads a crisp pen about this much (crop px) wider than drawn
ONE_MAX_SLANT = 0.5  # the crisp 1 leans at most this much (x shift per unit height)
SPECK_FRACTION = 0.02  # ink components under this fraction of the largest one are specks


class NoDigitError(ValueError):
    """No digit was found in the drawing (and no label was given)."""


def drawn_ink(probabilities: NDArray[np.floating] | torch.Tensor) -> Ink:
    """Decoder probabilities -> pen-like ink (a linear ramp from INK_LOW to INK_HIGH, clipped to 0..1)."""
    if isinstance(probabilities, torch.Tensor):
        probabilities = probabilities.detach().cpu().numpy()
    ramp = (np.asarray(probabilities, dtype=np.float32) - INK_LOW) / (INK_HIGH - INK_LOW)
    return np.clip(ramp, 0.0, 1.0).astype(np.float32)


def find_digit(
    detector: Detector, image: ImageLike, score_threshold: float | None = None
) -> Detection | None:
    """The highest-scoring digit detection in ``image`` (None when no digit is found) at
    ``score_threshold`` (default: the detector's own)."""
    digits = [d for d in detector(image, score_threshold=score_threshold).detections if is_digit(d.class_id)]
    return max(digits, key=lambda d: d.score) if digits else None


def ink_object_box(image: ImageLike) -> tuple[float, float, float, float] | None:
    """The box ``(x1, y1, x2, y2)`` around the drawing's ink without specks (components under
    SPECK_FRACTION of the largest); None when nothing is drawn."""
    mask = (image_ink(image) > 0.25).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    parts = stats[1:]
    keep = parts[parts[:, cv2.CC_STAT_AREA] >= SPECK_FRACTION * parts[:, cv2.CC_STAT_AREA].max()]
    x1, y1 = keep[:, cv2.CC_STAT_LEFT].min(), keep[:, cv2.CC_STAT_TOP].min()
    x2 = (keep[:, cv2.CC_STAT_LEFT] + keep[:, cv2.CC_STAT_WIDTH]).max()
    y2 = (keep[:, cv2.CC_STAT_TOP] + keep[:, cv2.CC_STAT_HEIGHT]).max()
    return float(x1), float(y1), float(x2), float(y2)


@dataclass(frozen=True)
class DrawnObject:
    """Where the drawn digit is and, when it can tell, which digit it is."""

    box: tuple[float, float, float, float] | None  # None: nothing drawn
    label: int | None  # None: the detector could not tell
    detection: Detection | None  # the detection the box came from (None: the ink itself)


def find_drawn_object(detector: Detector | None, image: ImageLike) -> DrawnObject:
    """The drawn digit, however large or faint: the detector's best digit at its own threshold, else its
    best digit at any score (TOP1_SCORE), else its best box of any class (no label), else the drawing's ink
    without specks (no label). Used by both ``style IMAGE`` and the "Your style" page."""
    ink_box = ink_object_box(image)
    if ink_box is None:
        return DrawnObject(None, None, None)
    if detector is not None:
        low = detector(image, score_threshold=TOP1_SCORE)  # one forward pass, replayed at the threshold
        for result in (detector.reselect(low, detector.score_threshold, detector.containment_threshold), low):
            digits = [d for d in result.detections if is_digit(d.class_id)]
            if digits:
                best = max(digits, key=lambda d: d.score)
                return DrawnObject(best.box, best.class_id, best)
        if low.detections:
            best = max(low.detections, key=lambda d: d.score)
            return DrawnObject(best.box, None, best)
    return DrawnObject(ink_box, None, None)


def pen_width(crop: Ink) -> float:
    """The input's stroke width in crop pixels (measured, clipped to PEN_RANGE)."""
    return float(np.clip(thickness(crop) - PEN_BIAS, *PEN_RANGE))


def hysteresis_mask(probabilities: NDArray[np.floating], low: float, high: float) -> NDArray[np.uint8]:
    """Ink above ``high``, plus ink above ``low`` that touches it (8-connected): the decoder draws some
    joints faintly (a 9's tail, a 6's loop, a 4's crossing), and a single threshold cuts the stroke there,
    while faint specks apart from the digit stay out."""
    weak = (probabilities > min(low, high)).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    if count <= 1:
        return weak
    kept = np.zeros(count, dtype=bool)
    kept[np.unique(labels[probabilities > high])] = True
    kept[0] = False
    return kept[labels].astype(np.uint8)


def crisp_ink(probabilities: Ink, pen: float, scale: int = CRISP_SCALE, low: float | None = None) -> Ink:
    """One decoded digit ``(S, S)`` as crisp pen strokes ``(S * scale, S * scale)``: thresholded at
    CRISP_LEVEL with hysteresis down to ``low`` (default CRISP_LOW; upsampled first), traced to smoothed
    centre lines (specks and spurs dropped, as the data engine traces glyphs) and drawn with a round
    anti-aliased pen ``pen`` crop pixels wide."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    size = probabilities.shape[0] * scale
    big = np.asarray(cv2.resize(probabilities, (size, size), interpolation=cv2.INTER_CUBIC), dtype=np.float32)
    mask = hysteresis_mask(big, CRISP_LOW if low is None else low, CRISP_LEVEL)
    if CRISP_CLOSE > 1:  # bridge the decoder's faint joints (a 9's tail, a 4's crossing) before tracing
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CRISP_CLOSE, CRISP_CLOSE))
        mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel), dtype=np.uint8)
    strokes = trace_glyph(mask)
    sub = 16  # cv2 fixed-point: 4 fractional bits
    canvas = np.zeros((size, size), dtype=np.uint8)
    width = max(1, round(pen * scale))
    lines = [np.rint(s * sub).astype(np.int32) for s in strokes if len(s) >= 2]
    if lines:
        cv2.polylines(canvas, lines, False, 255, width, cv2.LINE_AA, 4)
    for s in strokes:
        if len(s) == 1:
            centre = (round(s[0][0] * sub), round(s[0][1] * sub))
            cv2.circle(canvas, centre, max(1, round(width * sub / 2)), 255, -1, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) / np.float32(255.0)


def crisp_one(probabilities: Ink, pen: float, slant_value: float, scale: int = CRISP_SCALE) -> Ink:
    """The digit 1 as one straight pen stroke ``(S * scale, S * scale)``: as tall as the decoded 1's ink
    (the crop's inner height when it has none), leaning by ``slant_value`` (x shift per unit height, the
    input's :func:`~digit_detector.style.metrics.slant`, clipped to +-ONE_MAX_SLANT), centred.

    The decoder's 1 averages two kinds of 1 (a bare stroke and a font's 1 with flag and base serif), so it
    comes out as a stroke with loose blobs at its foot; the detector then reads it as a 2 or as nothing.
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    size = probabilities.shape[0]
    rows = np.nonzero((probabilities > CRISP_LEVEL).any(1))[0]
    top, bottom = (rows[0], rows[-1] + 1) if len(rows) else (CROP_MARGIN, size - CROP_MARGIN)
    top, bottom = min(top, CROP_MARGIN + 2), max(bottom, size - CROP_MARGIN - 2)
    lean = float(np.clip(slant_value, -ONE_MAX_SLANT, ONE_MAX_SLANT))
    half = (bottom - top - pen) / 2.0
    centre = size / 2.0
    ends = np.array([[centre + lean * half, centre - half], [centre - lean * half, centre + half]])
    sub = 16
    canvas = np.zeros((size * scale, size * scale), dtype=np.uint8)
    line = np.rint(ends * scale * sub).astype(np.int32)
    cv2.line(canvas, tuple(line[0]), tuple(line[1]), 255, max(1, round(pen * scale)), cv2.LINE_AA, 4)
    return canvas.astype(np.float32) / np.float32(255.0)


def render_digits(
    probabilities: NDArray[np.floating] | torch.Tensor,
    pens: NDArray[np.floating] | float,
    render: str,
    slants: NDArray[np.floating] | float | None = None,
) -> Ink:
    """Decoded digits ``(..., S, S)`` inked as ``render`` ("crisp": one pen width per leading index,
    ``pens`` broadcast over them; "soft": :func:`drawn_ink`). With ``slants`` (broadcast like ``pens``)
    the digits are rows of ten: the crisp 1 (index 1 of each row) is :func:`crisp_one` at that slant, and
    the digits of CRISP_LOW_BY_DIGIT are traced with their own low level."""
    if render not in RENDERS:
        raise ValueError(f"render must be one of {', '.join(RENDERS)}, got {render!r}")
    soft = drawn_ink(probabilities)
    if render == "soft":
        return soft
    size = soft.shape[-1]
    flat = np.asarray(
        probabilities.detach().cpu().numpy() if isinstance(probabilities, torch.Tensor) else probabilities,
        dtype=np.float32,
    ).reshape(-1, size, size)
    widths = np.broadcast_to(np.asarray(pens, dtype=np.float64), soft.shape[:-2]).reshape(-1)
    ones = np.zeros(soft.shape[:-2], dtype=bool)
    leans = np.zeros(soft.shape[:-2])
    lows = np.full(soft.shape[:-2], CRISP_LOW)
    if slants is not None:
        ones[..., 1] = True
        leans = np.broadcast_to(np.asarray(slants, dtype=np.float64), soft.shape[:-2])
        for digit, low in CRISP_LOW_BY_DIGIT.items():
            lows[..., digit] = low
    out = np.stack(
        [
            crisp_one(p, float(w), float(a)) if one else crisp_ink(p, float(w), low=float(low))
            for p, w, one, a, low in zip(
                flat, widths, ones.reshape(-1), leans.reshape(-1), lows.reshape(-1), strict=True
            )
        ]
    )
    return out.reshape(*soft.shape[:-2], size * CRISP_SCALE, size * CRISP_SCALE)


@dataclass
class StyleRow:
    """One analogy: the input crop, its label, where it came from, and the ten digits in its style."""

    label: int
    crop: Ink  # (S, S) the model's input
    digits: Ink  # (10, R, R) the shown ink, digit k at index k (R = S * CRISP_SCALE when crisp)
    detection: Detection | None  # the detection the crop was cut from (None: the drawing's ink)
    label_source: str  # "detected" or "given"
    pen: float = 0.0  # the input's measured stroke width in crop pixels (the crisp re-inking pen)

    def image(
        self, tile: int = TILE_SIZE, with_input: bool = False, per_line: int | None = None
    ) -> Image.Image:
        return row_image(
            self.digits,
            highlight=self.label,
            tile=tile,
            input_crop=self.crop if with_input else None,
            per_line=per_line,
        )


def ink_tile(ink: Ink, tile: int) -> Image.Image:
    """Black ink on white paper, ``tile`` px square."""
    gray = np.rint((1.0 - np.clip(ink, 0.0, 1.0)) * 255.0).astype(np.uint8)
    return Image.fromarray(gray, "L").resize((tile, tile), Image.Resampling.BICUBIC).convert("RGB")


def row_image(
    digits: Ink,
    highlight: int | None = None,
    tile: int = TILE_SIZE,
    input_crop: Ink | None = None,
    per_line: int | None = None,
) -> Image.Image:
    """The ten digits side by side, each captioned; the input's own class framed in its colour.

    With ``input_crop``, the input comes first, captioned "yours". With ``per_line``, the tiles wrap to
    lines of that many (e.g. 5: two lines of five).
    """
    tiles: list[tuple[Ink, str, tuple[int, int, int] | None]] = []
    if input_crop is not None:
        tiles.append((input_crop, "yours", (90, 90, 90)))
    for k in range(len(digits)):
        tiles.append((digits[k], str(k), class_colour(k) if k == highlight else None))
    columns = len(tiles) if per_line is None else max(1, min(per_line, len(tiles)))
    lines = -(-len(tiles) // columns)
    line_height = tile + CAPTION_HEIGHT + TILE_GAP
    width = columns * (tile + TILE_GAP) + TILE_GAP
    sheet = Image.new("RGB", (width, lines * line_height + TILE_GAP), (225, 225, 230))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    for index, (ink, caption, frame) in enumerate(tiles):
        x = TILE_GAP + (index % columns) * (tile + TILE_GAP)
        y = TILE_GAP + (index // columns) * line_height
        sheet.paste(ink_tile(ink, tile), (x, y))
        if frame is not None:
            draw.rectangle([x, y, x + tile - 1, y + tile - 1], outline=frame, width=3)
        left, _, right, _ = draw.textbbox((0, 0), caption, font=font)
        draw.text(
            (x + (tile - (right - left)) / 2, y + tile + 3),
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
    render: str = DEFAULT_RENDER,
) -> StyleRow:
    """All ten digits in the style of the digit drawn in ``image``.

    The digit is found by :func:`find_drawn_object` (any size, any score: the detector's best digit, else
    its best box, else the ink); its label is the detector's unless ``label`` is given. The style is the
    posterior mean, or with ``sample`` a draw seeded by ``seed``, scaled by ``strength`` (see
    ``model.style_strength``); the digits are inked as ``render`` (see RENDERS).
    Raises NoDigitError (the detector cannot tell the digit and no label is given) or NoInkError (nothing
    drawn).
    """
    if label is not None and not 0 <= label < NUM_DIGITS:
        raise ValueError(f"label must be a digit 0-9, got {label}")
    found = find_drawn_object(detector, image)
    if found.box is None:
        raise NoInkError("no ink to take a style from: draw a digit first")
    detection = found.detection
    if label is None:
        if found.label is None:
            raise NoDigitError(
                "no digit found in the drawing: the detector cannot tell which digit this is, give its label"
            )
        label = found.label
        label_source = "detected"
    else:
        label_source = "given"
    crop = crop_from_image(image, found.box, model.config.size)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        probabilities = model.analogies(
            torch.from_numpy(crop)[None],
            torch.tensor([label]),
            generator=generator,
            sample=sample,
            strength=strength,
        )[0]
    pen = pen_width(crop)
    digits = render_digits(probabilities, pen, render, slant(crop))
    return StyleRow(label, crop, digits, detection, label_source, pen)


__all__ = [
    "CROP_SIZE",
    "DEFAULT_RENDER",
    "RENDERS",
    "DrawnObject",
    "NoDigitError",
    "NoInkError",
    "StyleRow",
    "crisp_ink",
    "crisp_one",
    "drawn_ink",
    "find_digit",
    "find_drawn_object",
    "pen_width",
    "render_digits",
    "row_image",
    "style_row",
]

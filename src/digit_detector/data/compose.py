"""Layouts of drawn objects on a 400x400 canvas, as people draw them in the app.

A :class:`Composition` holds the canvas ink (0..1, 1 = black) and, for every pasted object, a
full-canvas mask of its own pixels, so that boxes can later be recomputed exactly from the
(possibly augmented) pixels. Objects are pasted by darkening (``ink = max(ink, object)``, i.e.
``image = min(image, 1 - object)``): anti-aliased black on white. Placements whose boxes overlap
ambiguously are rejected (IoU above ``max_iou`` or a box holding more than ``max_ink_overlap`` of
another object's ink).

Layout kinds and their default weights are in :data:`LAYOUT_WEIGHTS`; :func:`compose` picks one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from digit_detector.boxes import box_iou

CANVAS_SIZE = 400
MASK_THRESHOLD = 0.05  # ink above this belongs to the object's mask
MIN_HEIGHT = 20.0
LEGIBLE_HEIGHT_PER_PEN = 6.0
MAX_HEIGHT = 380.0
MARGIN = 0  # px kept free at the canvas border when placing: people draw right up to the edge

LAYOUT_WEIGHTS: dict[str, float] = {
    "single_digit": 0.35,
    "number": 0.15,
    "lines": 0.10,
    "scattered": 0.10,
    "mixed": 0.10,
    "extreme_size": 0.08,
    "non_digit": 0.08,
    "empty": 0.04,
}


class Drawn(Protocol):
    """What :class:`digit_detector.data.objects.DrawnObject` provides."""

    ink: NDArray[np.float32]
    class_id: int
    source: dict[str, Any]


class ObjectSource(Protocol):
    """What :class:`digit_detector.data.objects.ObjectFactory` provides (sizes in canvas px)."""

    def digit(self, digit: int, height: float, pen_width: float) -> Drawn: ...

    def other(self, height: float, pen_width: float) -> Drawn: ...

    def censored(self, height: float, pen_width: float) -> Drawn: ...


@dataclass(frozen=True)
class ComposeConfig:
    """Knobs of the layouts (JSON-serialisable; part of the dataset fingerprint)."""

    canvas_size: int = CANVAS_SIZE
    layout_weights: dict[str, float] = field(default_factory=lambda: dict(LAYOUT_WEIGHTS))
    max_iou: float = 0.05
    max_ink_overlap: float = 0.15
    pen_min: float = 3.0
    pen_max: float = 25.0
    pen_mode_mean: float = 10.0  # most pens are 6-14 px: N(10, 2.5) with probability pen_mode_p
    pen_mode_std: float = 2.5
    pen_mode_p: float = 0.55  # the rest uniform over the whole pen range, so thin and thick pens are common
    pen_change_p: float = 0.08  # canvases where the pen width changes between objects
    placement_tries: int = 25
    digit_weights: dict[str, float] | None = None  # how often each digit "0".."9" is drawn; None: alike
    # share of a number's digits that repeat the digit before them (11, 2000, 911): without it a row of
    # straight 1s is rarer in the data than a hatching doodle of upright bars, and read as one
    repeat_share: float = 0.0


@dataclass
class PlacedObject:
    """One object on the canvas: its class, full-canvas mask and where its ink crop was pasted."""

    class_id: int
    mask: NDArray[np.bool_]
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the pasted ink crop (tight for ink > 0.25)
    pixels: int  # mask pixel count
    height: float
    pen_width: float
    source: dict[str, Any]


@dataclass
class Composition:
    """A composed canvas: ink (HxW float32, 1 = black), its objects and the layout kind."""

    ink: NDArray[np.float32]
    objects: list[PlacedObject]
    layout: str
    pen_width: float

    def image(self) -> NDArray[np.uint8]:
        """The canvas as HxW uint8 grayscale (255 = white paper)."""
        return np.rint(255.0 * (1.0 - self.ink)).astype(np.uint8)

    def masks(self) -> list[NDArray[np.uint8]]:
        """Per-object masks as HxW uint8 (1 = the object's pixels)."""
        return [obj.mask.view(np.uint8) for obj in self.objects]

    @property
    def class_ids(self) -> list[int]:
        return [obj.class_id for obj in self.objects]


class Canvas:
    """A canvas being composed: pastes objects and rejects ambiguous overlaps."""

    def __init__(self, config: ComposeConfig) -> None:
        self.config = config
        self.size = config.canvas_size
        self.ink = np.zeros((self.size, self.size), dtype=np.float32)
        self.objects: list[PlacedObject] = []

    def fits(self, ink: NDArray[np.float32], x: int, y: int) -> bool:
        """Whether ``ink`` pasted with its top-left at (x, y) is inside and overlaps nothing ambiguously."""
        h, w = ink.shape
        if x < 0 or y < 0 or x + w > self.size or y + h > self.size:
            return False
        if not self.objects:
            return True
        cand = np.array([[x, y, x + w, y + h]], dtype=np.float64)
        boxes = np.array([o.box for o in self.objects], dtype=np.float64)
        if float(np.max(box_iou(cand, boxes))) > self.config.max_iou:
            return False
        own = ink > MASK_THRESHOLD
        own_total = max(int(own.sum()), 1)
        for obj in self.objects:
            ox1, oy1, ox2, oy2 = obj.box
            ix1, iy1, ix2, iy2 = max(x, ox1), max(y, oy1), min(x + w, ox2), min(y + h, oy2)
            if ix1 >= ix2 or iy1 >= iy2:
                continue
            theirs_inside = int(obj.mask[iy1:iy2, ix1:ix2].sum()) / max(obj.pixels, 1)
            ours_inside = int(own[iy1 - y : iy2 - y, ix1 - x : ix2 - x].sum()) / own_total
            if max(theirs_inside, ours_inside) > self.config.max_ink_overlap:
                return False
        return True

    def paste(
        self, drawn: Drawn, ink: NDArray[np.float32], x: int, y: int, height: float, pen_width: float
    ) -> PlacedObject:
        """Darken the canvas with ``ink`` (``drawn.ink``, maybe resized) at (x, y); record its mask."""
        h, w = ink.shape
        region = self.ink[y : y + h, x : x + w]
        np.maximum(region, ink, out=region)
        mask = np.zeros((self.size, self.size), dtype=np.bool_)
        mask[y : y + h, x : x + w] = ink > MASK_THRESHOLD
        placed = PlacedObject(
            class_id=int(drawn.class_id),
            mask=mask,
            box=(x, y, x + w, y + h),
            pixels=int(mask[y : y + h, x : x + w].sum()),
            height=float(height),
            pen_width=float(pen_width),
            source=dict(drawn.source),
        )
        self.objects.append(placed)
        return placed

    def place_randomly(
        self,
        drawn: Drawn,
        rng: np.random.Generator,
        height: float,
        pen_width: float,
        region: tuple[int, int, int, int] | None = None,
    ) -> bool:
        """Try random positions (top-left inside ``region`` x1, y1, x2, y2) until one fits."""
        ink = fit_ink(drawn, self.size - 2 * MARGIN)
        h, w = ink.shape
        x1, y1, x2, y2 = region or (MARGIN, MARGIN, self.size - MARGIN, self.size - MARGIN)
        x_hi, y_hi = x2 - w, y2 - h
        if x_hi < x1 or y_hi < y1:
            return False
        for _ in range(self.config.placement_tries):
            x, y = int(rng.integers(x1, x_hi + 1)), int(rng.integers(y1, y_hi + 1))
            if self.fits(ink, x, y):
                self.paste(drawn, ink, x, y, height, pen_width)
                return True
        return False


def fit_ink(drawn: Drawn, max_side: int) -> NDArray[np.float32]:
    """``drawn.ink``, scaled down (area interpolation) if a side exceeds ``max_side``."""
    ink = drawn.ink
    h, w = ink.shape
    if max(h, w) <= max_side:
        return ink
    scale = max_side / max(h, w)
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return np.asarray(cv2.resize(ink, size, interpolation=cv2.INTER_AREA), dtype=np.float32)


# --------------------------------------------------------------------------- sampling helpers


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A size between ``low`` and ``high``, uniform in log space (small and large equally likely)."""
    if high <= low:
        return float(low)
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_pen_width(rng: np.random.Generator, config: ComposeConfig) -> float:
    """A pen width in ``pen_min..pen_max`` px with most mass at 6-14 px."""
    if rng.random() < config.pen_mode_p:
        value = rng.normal(config.pen_mode_mean, config.pen_mode_std)
    else:
        value = rng.uniform(config.pen_min, config.pen_max)
    return float(np.clip(value, config.pen_min, config.pen_max))


def min_height_for(pen_width: float) -> float:
    """The smallest legible object for a pen (6x its width).

    At 4x the width a thick pen closes the loops of 6, 8, 9 and 0 and digits turn into blobs that people
    cannot read either (the first trained model's error sheet was full of them).
    """
    return max(MIN_HEIGHT, LEGIBLE_HEIGHT_PER_PEN * pen_width)


class _Layout:
    """State shared by the layout functions of one canvas."""

    def __init__(
        self,
        canvas: Canvas,
        factory: ObjectSource,
        rng: np.random.Generator,
        pen: float,
        config: ComposeConfig,
    ) -> None:
        self.canvas = canvas
        self.factory = factory
        self.rng = rng
        self.base_pen = pen
        self.config = config
        self.pen_changes = rng.random() < config.pen_change_p

    def pen(self) -> float:
        """The canvas pen width, or a new one on the rare canvases where people change it."""
        return sample_pen_width(self.rng, self.config) if self.pen_changes else self.base_pen

    def non_digit(self, height: float, pen: float) -> Drawn:
        if self.rng.random() < 0.3:
            return self.factory.censored(height, pen)
        return self.factory.other(height, pen)

    def digit_class(self) -> int:
        """Which digit to draw: each alike, or by the config's ``digit_weights``."""
        weights = self.config.digit_weights
        if weights is None:
            return int(self.rng.integers(10))  # the draw canvases made before digit_weights used
        p = np.array([weights[str(digit)] for digit in range(10)], dtype=np.float64)
        return int(self.rng.choice(10, p=p / p.sum()))

    def random_object(self, height: float, pen: float, p_digit: float) -> Drawn:
        if self.rng.random() < p_digit:
            return self.factory.digit(self.digit_class(), height, pen)
        return self.non_digit(height, pen)

    def scatter(self, count: int, low: float, high: float, p_digit: float) -> None:
        """``count`` objects of random sizes at random free positions."""
        for _ in range(count):
            pen = self.pen()
            height = log_uniform(self.rng, max(low, min_height_for(pen)), high)
            self.canvas.place_randomly(self.random_object(height, pen, p_digit), self.rng, height, pen)

    def number(self, n_digits: int, height: float, x0: float, y0: float, pen: float) -> float:
        """A row of ``n_digits`` digits (top-left near x0, y0); returns the x where it ended."""
        rng, canvas = self.rng, self.canvas
        gap_mean = height * rng.uniform(-0.08, 0.22)  # apart, close or touching
        x, baseline = x0, y0 + height
        share = self.config.repeat_share
        digit: int | None = None
        for _ in range(n_digits):
            h = height * rng.uniform(0.92, 1.08)
            if digit is None or not (share and rng.random() < share):  # share 0: the rng as before it
                digit = self.digit_class()
            drawn = self.factory.digit(digit, h, pen)
            ink = fit_ink(drawn, canvas.size - 2 * MARGIN)
            ih, iw = ink.shape
            baseline += rng.normal(0.0, 0.025 * height)  # slight drift
            y = round(baseline - ih + rng.normal(0.0, 0.02 * height))
            y = min(max(y, MARGIN), canvas.size - MARGIN - ih)
            for nudge in (0.0, 0.05, 0.1, 0.2):
                xi = round(x + nudge * height)
                if canvas.fits(ink, xi, y):
                    canvas.paste(drawn, ink, xi, y, h, pen)
                    x = xi + iw + gap_mean + rng.normal(0.0, 0.03 * height)
                    break
            else:
                break
        return x


# --------------------------------------------------------------------------- layouts


def _single_digit(lay: _Layout) -> None:
    pen = lay.base_pen
    low = min_height_for(pen)
    # half log-uniform (many small ones), half uniform (people mostly draw a lone digit large)
    height = (
        log_uniform(lay.rng, low, MAX_HEIGHT) if lay.rng.random() < 0.5 else lay.rng.uniform(low, MAX_HEIGHT)
    )
    lay.canvas.place_randomly(lay.factory.digit(lay.digit_class(), height, pen), lay.rng, height, pen)


def _row_height(lay: _Layout, n_digits: int, n_lines: int = 1) -> float:
    size = lay.canvas.size - 2 * MARGIN
    high = min(size / (n_digits * 0.8 + 0.2), size / (n_lines * 1.35), 320.0)
    return log_uniform(lay.rng, min(min_height_for(lay.base_pen), high), high)


def _number(lay: _Layout) -> None:
    n = int(lay.rng.integers(2, 7))
    height = _row_height(lay, n)
    size = lay.canvas.size
    width_est = n * 0.7 * height
    x0 = lay.rng.uniform(MARGIN, max(MARGIN, size - MARGIN - width_est))
    y0 = lay.rng.uniform(MARGIN, max(MARGIN, size - MARGIN - 1.15 * height))
    lay.number(n, height, x0, y0, lay.pen())


def _lines(lay: _Layout) -> None:
    rng, size = lay.rng, lay.canvas.size
    n_lines = int(rng.integers(2, 5))
    digits = [int(rng.integers(1, 6)) for _ in range(n_lines)]
    height = _row_height(lay, max(digits), n_lines)
    spacing = height * rng.uniform(1.25, 1.6)
    block = spacing * (n_lines - 1) + height
    y = rng.uniform(MARGIN, max(MARGIN, size - MARGIN - block))
    x_left = rng.uniform(MARGIN, max(MARGIN, size - MARGIN - max(digits) * 0.7 * height))
    pen = lay.pen()
    for n in digits:
        x0 = max(MARGIN, x_left + rng.normal(0.0, 0.15 * height))
        lay.number(n, height, x0, y, pen)
        y += spacing * rng.uniform(0.95, 1.05)


def _scattered(lay: _Layout) -> None:
    count = int(lay.rng.integers(2, 8))
    lay.scatter(count, MIN_HEIGHT, min(250.0, 520.0 / math.sqrt(count)), p_digit=0.85)


def _mixed(lay: _Layout) -> None:
    rng = lay.rng
    if rng.random() < 0.5:
        n = int(rng.integers(2, 5))
        height = _row_height(lay, n + 1, 2)
        size = lay.canvas.size
        x0 = rng.uniform(MARGIN, max(MARGIN, size - MARGIN - n * 0.7 * height))
        y0 = rng.uniform(MARGIN, max(MARGIN, size - MARGIN - 1.15 * height))
        lay.number(n, height, x0, y0, lay.pen())
    else:
        lay.scatter(int(rng.integers(1, 3)), MIN_HEIGHT, 200.0, p_digit=1.0)
    lay.scatter(int(rng.integers(1, 4)), 30.0, 220.0, p_digit=0.0)


def _extreme_size(lay: _Layout) -> None:
    rng = lay.rng
    if rng.random() < 0.5:  # tiny objects, drawn with a thin pen (still legible: see min_height_for)
        for _ in range(int(rng.integers(1, 7))):
            height = rng.uniform(MIN_HEIGHT, 36.0)
            pen = float(np.clip(rng.uniform(2.0, height / LEGIBLE_HEIGHT_PER_PEN), 2.0, 6.0))
            drawn = lay.random_object(height, pen, p_digit=0.9)
            lay.canvas.place_randomly(drawn, rng, height, pen)
    else:  # one object filling the canvas
        height = rng.uniform(300.0, MAX_HEIGHT + 10.0)
        pen = max(lay.base_pen, rng.uniform(8.0, 25.0))
        lay.canvas.place_randomly(lay.random_object(height, pen, p_digit=0.85), rng, height, pen)


def _non_digit(lay: _Layout) -> None:
    lay.scatter(int(lay.rng.integers(1, 5)), 30.0, 300.0, p_digit=0.0)


def _empty(lay: _Layout) -> None:
    return None


LAYOUTS: dict[str, Callable[[_Layout], None]] = {
    "single_digit": _single_digit,
    "number": _number,
    "lines": _lines,
    "scattered": _scattered,
    "mixed": _mixed,
    "extreme_size": _extreme_size,
    "non_digit": _non_digit,
    "empty": _empty,
}


def reweighted(text: str, defaults: dict[str, float], kind: str) -> dict[str, float]:
    """``"NAME=W,..."`` -> ``defaults`` with the named entries reweighted; unknown names, malformed pairs and
    weights that are negative or sum to nothing raise ValueError naming ``kind`` (what the names are)."""
    weights = dict(defaults)
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or name not in weights:
            raise ValueError(
                f"expected {kind.upper()}=WEIGHT with {kind.upper()} one of {list(weights)}, got {pair!r}"
            )
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(
                f"the weight of {kind} {name!r} must be a number, got {value.strip()!r}"
            ) from None
    if any(not math.isfinite(w) or w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"{kind} weights must be non-negative with a positive sum, got {weights}")
    return weights


def parse_layout_weights(text: str) -> dict[str, float]:
    """``"number=0.3,lines=0.3"`` -> the default :data:`LAYOUT_WEIGHTS` with those kinds reweighted."""
    return reweighted(text, LAYOUT_WEIGHTS, "layout")


def parse_digit_weights(text: str) -> dict[str, float]:
    """``"1=2.5"`` -> how often each digit ``"0"``..``"9"`` is drawn: 1 for the digits not named."""
    return reweighted(text, {str(digit): 1.0 for digit in range(10)}, "digit")


def choose_layout(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """A layout kind drawn with ``weights`` (normalised; unknown names raise ValueError)."""
    unknown = set(weights) - set(LAYOUTS)
    if unknown:
        raise ValueError(f"unknown layout kinds {sorted(unknown)}; known: {sorted(LAYOUTS)}")
    names = sorted(weights)
    p = np.array([weights[name] for name in names], dtype=np.float64)
    if p.sum() <= 0 or (p < 0).any():
        raise ValueError(f"layout weights must be non-negative with a positive sum, got {weights}")
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def compose(
    factory: ObjectSource,
    rng: np.random.Generator,
    config: ComposeConfig | None = None,
    layout: str | None = None,
) -> Composition:
    """Compose one canvas with a layout drawn from ``config.layout_weights`` (or the given ``layout``)."""
    config = config or ComposeConfig()
    kind = layout if layout is not None else choose_layout(rng, config.layout_weights)
    if kind not in LAYOUTS:
        raise ValueError(f"unknown layout kind {kind!r}; known: {sorted(LAYOUTS)}")
    canvas = Canvas(config)
    pen = sample_pen_width(rng, config)
    LAYOUTS[kind](_Layout(canvas, factory, rng, pen, config))
    return Composition(ink=canvas.ink, objects=canvas.objects, layout=kind, pen_width=pen)

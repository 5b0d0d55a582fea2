"""Single drawn objects that look like mouse-pen strokes on the app's 400x400 canvas.

Every object is a set of strokes (polylines) that is slanted, stretched, bent a little and redrawn with
an anti-aliased round pen of the requested width, with a slight hand wobble along each stroke:

* digits (class 0-9): mostly MNIST glyphs (re-inked: upscaled, thinned to a skeleton, traced into
  polylines), plus handwriting fonts and OpenCV's Hershey fonts traced the same way, and on request
  (``sketch_share``) mouse-sketch templates (:mod:`digit_detector.data.sketches`: a straight-stroke ``1``);
  ``more_fonts`` gives them more fonts (:func:`~digit_detector.data.sources.fonts_for_split`);
* ``other`` (class 11): letters and short words in those fonts (no digit-like letters), and procedural
  doodles: shapes, faces, animals, spirals, scribbles, hatching (no plain circle or line: they read as 0, 1);
* ``censored`` (class 10): a procedural phallic doodle (shaft, two balls, optional details), any rotation.

Splits follow :mod:`digit_detector.data.sources`: MNIST indices by the 80 % rule, the held-out fonts
(:data:`~digit_detector.data.sources.TEST_FONTS` and ``TEST_HERSHEY``) only in the test split.
Everything is deterministic given the generator passed to :class:`ObjectFactory`. The strokes themselves
(thinning, tracing, the pen) are in :mod:`digit_detector.data.strokes`, the doodles in
:mod:`digit_detector.data.doodles`; this module picks and combines them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.classes import CENSORED_ID, OTHER_ID
from digit_detector.data import sources
from digit_detector.data.doodles import ANY_ROTATION, MIN_SHAPE_RATIO, SHAPES, censored_strokes
from digit_detector.data.sketches import sketch_strokes
from digit_detector.data.strokes import Ink, Strokes, Style, render_strokes, trace_coverage, trace_glyph

#: Hershey fonts drawn directly from their strokes (the others are rasterised and thinned).
SINGLE_STROKE_HERSHEY = frozenset({"futural", "cursive"})

#: Letters for ``other``: none that reads as a digit (O o l I S s Z z B g q b G, and i, Q too).
OTHER_LETTERS = "ACDEFHJKLMNPRTUVWXY" + "acdefhjkmnprtuvwxy"
OTHER_WORDS: tuple[str, ...] = (
    "hi", "hey", "hello", "yes", "no", "ok", "cat", "dog", "sun", "abc", "xyz", "wow", "cool", "love",
    "fun", "art", "draw", "test", "the", "and", "pet", "car", "tree", "fish", "home", "yay", "omg",
    "nice", "hey!", "why", "what", "word", "mom", "dad", "max", "anna", "tom", "pizza", "moon", "star",
)  # fmt: skip

DIGIT_SOURCE_WEIGHTS = {"mnist": 0.7, "font": 0.2, "hershey": 0.1}
MIN_TEXT_RATIO = 6.0  # letters and words need height >= this * pen_width (else a shape is drawn)
MAX_BLOB_RATIO = 0.3  # MNIST glyphs whose thickest stroke exceeds this fraction of the height are skipped
MIN_TRACE_COVERAGE = 0.8  # ... and so are those whose traced strokes draw back less of their ink than this
DIGIT_MAX_ASPECT = 1.3  # a digit's width is capped at this times its height (a wide glyph comes out shorter)


@dataclass
class DrawnObject:
    """One drawn object: tight ink crop (HxW float32 0..1, 1 = black), class id and where it came from."""

    ink: Ink
    class_id: int
    source: dict[str, Any]


def trace_mnist(image: NDArray[np.uint8]) -> tuple[Strokes, NDArray[np.bool_]]:
    """An MNIST glyph's centre lines and the binary glyph they were traced from (112 px, cubic upscale,
    Gaussian blur 2, ink above level 100, or 170 when that is too blobby); no strokes when both are."""
    big = cv2.GaussianBlur(cv2.resize(image, (112, 112), interpolation=cv2.INTER_CUBIC), (0, 0), 2.0)
    for level in (100, 170):
        binary = big > level
        rows = np.nonzero(binary.any(1))[0]
        if len(rows) == 0:
            break
        height = rows[-1] - rows[0] + 1
        dist = cv2.distanceTransform(binary.astype(np.uint8), cv2.DIST_L2, 3)
        if 2.0 * float(dist.max()) < MAX_BLOB_RATIO * height:
            return trace_glyph(binary, speck_fraction=0.08), binary
    return [], binary


# ------------------------------------------------------------------------------------ factory


class ObjectFactory:
    """Draws digits, ``other`` objects and censored doodles for one split, deterministically from ``rng``.

    Sizes are in canvas px: ``height`` is the ink height of the object (see :func:`render_strokes`),
    ``pen_width`` the pen diameter.
    """

    def __init__(
        self,
        split: str,
        rng: np.random.Generator,
        cache_dir: Path | None = None,
        sketch_share: float = 0.0,
        more_fonts: bool = False,
    ) -> None:
        if split not in sources.SPLITS:
            raise ValueError(f"split must be one of {sources.SPLITS}, got {split!r}")
        if not 0.0 <= sketch_share <= 1.0:
            raise ValueError(f"sketch_share must be within 0-1, got {sketch_share}")
        self.split = split
        self.rng = rng
        self.sketch_share = sketch_share
        mnist = sources.load_mnist(cache_dir)
        self._mnist = mnist
        self._mnist_ranges = [sources.mnist_split_range(len(m), split) for m in mnist]
        self.fonts = sources.fonts_for_split(split, more_fonts)
        self._font_paths = sources.font_paths(self.fonts, cache_dir)
        self._font_objs: dict[str, ImageFont.FreeTypeFont] = {}
        self.hershey = sources.hershey_for_split(split)
        self._hershey = sources.load_hershey(self.hershey, cache_dir)
        self._glyphs: dict[tuple[Any, ...], Strokes] = {}

    # -- glyph skeletons (cached, deterministic)

    def mnist_strokes(self, digit: int, index: int) -> Strokes:
        """Centre lines of an MNIST digit; empty when its label is wrong or doubtful
        (:func:`sources.mnist_excluded`), it is too blobby to trace (its holes filled in) or its strokes draw
        back less than :data:`MIN_TRACE_COVERAGE` of its ink (a filled loop traced as a line)."""
        key = ("mnist", digit, index)
        if key not in self._glyphs:
            if (digit, index) in sources.mnist_excluded():
                self._glyphs[key] = []
                return []
            strokes, binary = trace_mnist(self._mnist[digit][index])
            if strokes and trace_coverage(binary, strokes) < MIN_TRACE_COVERAGE:
                strokes = []  # the redraw would be another shape
            self._glyphs[key] = strokes
        return self._glyphs[key]

    def _font(self, name: str) -> ImageFont.FreeTypeFont:
        if name not in self._font_objs:
            self._font_objs[name] = ImageFont.truetype(str(self._font_paths[name]), 96)
        return self._font_objs[name]

    def _font_strokes(self, font: str, text: str) -> Strokes:
        key = ("font", font, text)
        if key not in self._glyphs:
            ft = self._font(font)
            left, top, right, bottom = ft.getbbox(text)
            pad = 8
            im = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
            ImageDraw.Draw(im).text((pad - left, pad - top), text, font=ft, fill=255)
            self._glyphs[key] = trace_glyph(np.asarray(im) > 110)
        return self._glyphs[key]

    def _hershey_strokes(self, font: str, text: str) -> Strokes:
        key = ("hershey", font, text)
        if key not in self._glyphs:
            glyphs = self._hershey[font]
            strokes: Strokes = []
            x: float = 0.0
            for ch in text:
                if ch == " " or ch not in glyphs:
                    x += 10.0
                    continue
                parts = glyphs[ch]
                xs = np.concatenate(parts)[:, 0]
                strokes += [p - [xs.min() - x, 0.0] for p in parts]
                x += float(xs.max() - xs.min()) + 4.0
            if font not in SINGLE_STROKE_HERSHEY and strokes:  # several strokes per line: merge them
                pts = np.concatenate(strokes)
                lo = pts.min(0)
                img = np.zeros(
                    (int((pts[:, 1].max() - lo[1]) * 4) + 24, int((pts[:, 0].max() - lo[0]) * 4) + 24),
                    np.uint8,
                )
                polys = [np.rint(((p - lo) * 4 + 12) * 16).astype(np.int32) for p in strokes]
                cv2.polylines(img, polys, False, 255, 5, cv2.LINE_8, 4)
                strokes = trace_glyph(img, spur_fraction=0.05)
            self._glyphs[key] = strokes
        return self._glyphs[key]

    # -- styles

    def digit_style(self) -> Style:
        """A random slant, stretch, bend and tremor for one digit (also used for letters and words)."""
        rng = self.rng
        return Style(
            rotation=float(np.clip(rng.normal(0, 0.08), -0.25, 0.25)),
            shear=float(np.clip(rng.normal(0, 0.15), -0.4, 0.4)),
            aspect=float(np.exp(rng.normal(0, 0.12))),
            warp=rng.uniform(0.0, 0.04),
            jitter=rng.uniform(0.5, 1.5),
            max_aspect=DIGIT_MAX_ASPECT,
        )

    def _draw(self, strokes: Strokes, height: float, pen_width: float, style: Style) -> Ink:
        return render_strokes(strokes, height, pen_width, self.rng, style)

    # -- public API

    def digit(self, digit: int, height: float, pen_width: float) -> DrawnObject:
        """A digit ``digit`` (0-9), ``height`` px tall, drawn with a ``pen_width`` px pen."""
        if not 0 <= digit <= 9:
            raise ValueError(f"digit must be 0-9, got {digit}")
        rng = self.rng
        if self.sketch_share > 0 and rng.random() < self.sketch_share:  # no draw at 0: same canvases
            ink = self._draw(sketch_strokes(digit, rng), height, pen_width, self.digit_style())
            return DrawnObject(ink=ink, class_id=digit, source={"kind": "sketch"})
        kinds = list(DIGIT_SOURCE_WEIGHTS)
        kind = kinds[int(rng.choice(len(kinds), p=list(DIGIT_SOURCE_WEIGHTS.values())))]
        source: dict[str, Any]
        for _ in range(20):
            if kind == "mnist":
                span = self._mnist_ranges[digit]
                index = int(rng.integers(span.start, span.stop))
                strokes = self.mnist_strokes(digit, index)
                source = {"kind": "mnist", "digit": digit, "index": index}
            elif kind == "font":
                font = self.fonts[int(rng.integers(len(self.fonts)))]
                strokes = self._font_strokes(font, str(digit))
                source = {"kind": "font", "font": font, "text": str(digit)}
            else:
                font = self.hershey[int(rng.integers(len(self.hershey)))]
                strokes = self._hershey_strokes(font, str(digit))
                source = {"kind": "hershey", "font": font, "text": str(digit)}
            if strokes:
                break
            kind = "mnist"
        ink = self._draw(strokes, height, pen_width, self.digit_style())
        return DrawnObject(ink=ink, class_id=digit, source=source)

    def other(self, height: float, pen_width: float) -> DrawnObject:
        """A non-digit: a letter, a short word, a shape, doodle, spiral, scribble or hatching."""
        rng = self.rng
        u = rng.random()
        ratio = height / max(pen_width, 1.0)
        if u < 0.4 and ratio >= MIN_TEXT_RATIO:  # thick pens on small letters make digit-like blobs
            word = u < 0.15
            if word:
                text = OTHER_WORDS[int(rng.integers(len(OTHER_WORDS)))]
                case = rng.random()
                text = text.upper() if case < 0.2 else text.capitalize() if case < 0.4 else text
            else:
                text = OTHER_LETTERS[int(rng.integers(len(OTHER_LETTERS)))]
            if rng.random() < 0.85:
                font = self.fonts[int(rng.integers(len(self.fonts)))]
                strokes = self._font_strokes(font, text)
                source: dict[str, Any] = {"kind": "font", "font": font, "text": text}
            else:
                hf = self.hershey[int(rng.integers(len(self.hershey)))]
                strokes = self._hershey_strokes(hf, text)
                source = {"kind": "hershey", "font": hf, "text": text}
            style = self.digit_style()
            style = Style(
                style.rotation, style.shear, style.aspect, style.warp, style.jitter, 5.0 if word else 1.6
            )
            if strokes:
                return DrawnObject(self._draw(strokes, height, pen_width, style), OTHER_ID, source)
        names = [n for n in SHAPES if MIN_SHAPE_RATIO.get(n, 0.0) <= ratio]
        name = names[int(rng.integers(len(names)))]
        strokes = SHAPES[name](rng)
        rotation = rng.uniform(0, 2 * math.pi) if name in ANY_ROTATION else rng.normal(0, 0.15)
        style = Style(
            rotation=float(rotation),
            shear=float(rng.normal(0, 0.08)),
            aspect=float(np.exp(rng.normal(0, 0.12))),
            warp=rng.uniform(0.0, 0.05),
            jitter=rng.uniform(0.5, 1.6),
            max_aspect=1.8,
        )
        ink = self._draw(strokes, height, pen_width, style)
        return DrawnObject(ink=ink, class_id=OTHER_ID, source={"kind": "shape", "generator": name})

    def censored(self, height: float, pen_width: float) -> DrawnObject:
        """The censored doodle at any rotation; ``height`` is its ink height (width capped at 1.6x)."""
        rng = self.rng
        strokes, info = censored_strokes(rng)
        style = Style(
            rotation=rng.uniform(0, 2 * math.pi),
            shear=float(rng.normal(0, 0.08)),
            aspect=float(np.exp(rng.normal(0, 0.1))),
            warp=rng.uniform(0.0, 0.05),
            jitter=rng.uniform(0.5, 1.5),
            max_aspect=1.6,
        )
        ink = self._draw(strokes, height, pen_width, style)
        return DrawnObject(ink=ink, class_id=CENSORED_ID, source={"kind": "censored", **info})

"""Single drawn objects that look like mouse-pen strokes on the app's 400x400 canvas.

Every object is a set of strokes (polylines) that is slanted, stretched, bent a little and redrawn with
an anti-aliased round pen of the requested width, with a slight hand wobble along each stroke:

* digits (class 0-9): mostly MNIST glyphs (re-inked: upscaled, thinned to a skeleton, traced into
  polylines), plus handwriting fonts and OpenCV's Hershey fonts traced the same way;
* ``other`` (class 11): letters and short words in those fonts (no digit-like letters), and procedural
  doodles: shapes, faces, animals, spirals, scribbles, hatching (no plain circle or line: they read as 0, 1);
* ``censored`` (class 10): a procedural phallic doodle (shaft, two balls, optional details), any rotation.

Splits follow :mod:`digit_detector.data.sources`: MNIST indices by the 80 % rule, the held-out fonts
(:data:`~digit_detector.data.sources.TEST_FONTS` and ``TEST_HERSHEY``) only in the test split.
Everything is deterministic given the generator passed to :class:`ObjectFactory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.classes import CENSORED_ID, OTHER_ID
from digit_detector.data import sources

Stroke = NDArray[np.float64]  # (k, 2) points x, y
Strokes = list[Stroke]
Ink = NDArray[np.float32]

INK_THRESHOLD = 0.25  # ink above this counts for the tight crop
_CROP_LEVEL = 64  # uint8 level equivalent of INK_THRESHOLD (64 / 255 > 0.25)

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


@dataclass
class DrawnObject:
    """One drawn object: tight ink crop (HxW float32 0..1, 1 = black), class id and where it came from."""

    ink: Ink
    class_id: int
    source: dict[str, Any]


# ------------------------------------------------------------------------------------ thinning


def _zhang_suen_luts() -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Deletion look-up tables of the two Zhang-Suen sub-iterations, indexed by the 9-bit neighbourhood code
    (bits 0-7: the neighbours N, NE, E, SE, S, SW, W, NW; bit 8: the pixel itself)."""
    lut1 = np.zeros(512, dtype=np.bool_)
    lut2 = np.zeros(512, dtype=np.bool_)
    for code in range(256, 512):
        p = [(code >> k) & 1 for k in range(8)]  # P2 (N), P3 (NE), ..., P9 (NW), clockwise
        b = sum(p)
        a = sum(1 for k in range(8) if p[k] == 0 and p[(k + 1) % 8] == 1)
        if not (2 <= b <= 6 and a == 1):
            continue
        p2, _, p4, _, p6, _, p8, _ = p
        lut1[code] = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        lut2[code] = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
    return lut1, lut2


_LUT1, _LUT2 = _zhang_suen_luts()


def thin(binary: NDArray[np.generic]) -> NDArray[np.bool_]:
    """Zhang-Suen thinning of a binary image to a one-pixel-wide skeleton."""
    mask = np.asarray(binary) > 0
    out = np.zeros(mask.shape, dtype=np.bool_)
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if len(rows) == 0:
        return out
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = y1 - y0, x1 - x0
    p = np.zeros((h + 2, w + 2), dtype=np.uint16)
    p[1:-1, 1:-1] = mask[y0:y1, x0:x1]
    centre = p[1 : h + 1, 1 : w + 1]
    views = (
        p[0:h, 1 : w + 1], p[0:h, 2 : w + 2], p[1 : h + 1, 2 : w + 2], p[2 : h + 2, 2 : w + 2],
        p[2 : h + 2, 1 : w + 1], p[2 : h + 2, 0:w], p[1 : h + 1, 0:w], p[0:h, 0:w],
    )  # fmt: skip
    code = np.empty((h, w), dtype=np.uint16)
    tmp = np.empty((h, w), dtype=np.uint16)
    changed = True
    while changed:
        changed = False
        for lut in (_LUT1, _LUT2):
            np.left_shift(centre, 8, out=code)
            for k, v in enumerate(views):
                np.left_shift(v, k, out=tmp)
                code |= tmp
            delete = lut[code]
            if delete.any():
                centre[delete] = 0
                changed = True
    out[y0:y1, x0:x1] = centre > 0
    return out


# ------------------------------------------------------------------------------------ tracing

_OFFSETS = ((-1, 0), (0, 1), (1, 0), (0, -1), (-1, 1), (1, 1), (1, -1), (-1, -1))


def _pixel_graph(skel: NDArray[np.bool_]) -> tuple[NDArray[np.intp], NDArray[np.intp], list[list[int]]]:
    """Skeleton pixels (ys, xs) and their 8-adjacency, without diagonal links that shortcut a corner."""
    ys, xs = np.nonzero(skel)
    p = np.pad(skel, 1)
    ids = np.full(p.shape, -1, dtype=np.intp)
    ids[ys + 1, xs + 1] = np.arange(len(ys))
    adj: list[list[int]] = [[] for _ in range(len(ys))]
    for dy, dx in _OFFSETS:
        ny, nx = ys + 1 + dy, xs + 1 + dx
        has = p[ny, nx]
        if dy and dx:
            has &= ~p[ys + 1 + dy, xs + 1] & ~p[ys + 1, xs + 1 + dx]
        for i, j in zip(np.nonzero(has)[0].tolist(), ids[ny, nx][has].tolist(), strict=True):
            adj[i].append(j)
    return ys, xs, adj


def _trace_chains(adj: list[list[int]]) -> list[list[int]]:
    """Split a pixel graph into chains between nodes (degree != 2) plus closed loops."""
    n = len(adj)
    is_node = [len(a) != 2 for a in adj]
    seen: set[tuple[int, int]] = set()
    chains: list[list[int]] = []
    for u in range(n):
        if not is_node[u]:
            continue
        if not adj[u]:
            chains.append([u])
            continue
        for v in adj[u]:
            if (u, v) in seen:
                continue
            chain, prev, cur = [u], u, v
            seen.add((u, v))
            seen.add((v, u))
            while not is_node[cur]:
                chain.append(cur)
                a, b = adj[cur]
                nxt = b if a == prev else a
                seen.add((cur, nxt))
                seen.add((nxt, cur))
                prev, cur = cur, nxt
                if cur == u and not is_node[u]:
                    break
            chain.append(cur)
            chains.append(chain)
    for u in range(n):  # loops made only of degree-2 pixels
        if is_node[u] or (u, adj[u][0]) in seen:
            continue
        chain, prev, cur = [u], u, adj[u][0]
        seen.add((u, cur))
        seen.add((cur, u))
        while cur != u:
            chain.append(cur)
            a, b = adj[cur]
            nxt = b if a == prev else a
            seen.add((cur, nxt))
            seen.add((nxt, cur))
            prev, cur = cur, nxt
        chain.append(u)
        chains.append(chain)
    return chains


def _chain_length(pts: Stroke) -> float:
    return float(np.sum(np.hypot(*np.diff(pts, axis=0).T))) if len(pts) > 1 else 0.0


def _prune_and_merge(chains: list[Stroke], min_spur: float) -> list[Stroke]:
    """Drop short spurs (free end to a junction) and join chains that meet end to end."""

    def key(p: NDArray[np.float64]) -> tuple[int, int]:
        return round(float(p[0])), round(float(p[1]))

    for _ in range(3):
        ends: dict[tuple[int, int], int] = {}
        for c in chains:
            for k in (key(c[0]), key(c[-1])):
                ends[k] = ends.get(k, 0) + 1
        keep = []
        for c in chains:
            a, b = ends[key(c[0])], ends[key(c[-1])]
            spur = (a == 1 and b >= 3) or (b == 1 and a >= 3)
            if not (spur and _chain_length(c) < min_spur):
                keep.append(c)
        if len(keep) == len(chains):
            break
        chains = keep
    # join chains at points where exactly two chain ends meet
    merged = True
    while merged:
        merged = False
        ends_at: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for ci, c in enumerate(chains):
            if len(c) > 1 and key(c[0]) == key(c[-1]):
                continue  # closed loop
            ends_at.setdefault(key(c[0]), []).append((ci, 0))
            ends_at.setdefault(key(c[-1]), []).append((ci, 1))
        for pairs in ends_at.values():
            if len(pairs) != 2 or pairs[0][0] == pairs[1][0]:
                continue
            (i, end_i), (j, end_j) = pairs
            first = chains[i] if end_i == 1 else chains[i][::-1]
            second = chains[j] if end_j == 0 else chains[j][::-1]
            chains[i] = np.concatenate([first, second[1:]])
            del chains[j]
            merged = True
            break
    return chains


def _smooth(pts: Stroke, sigma: float) -> Stroke:
    """Gaussian smoothing along a chain (ends fixed; closed chains wrap)."""
    if len(pts) < 4 or sigma <= 0:
        return pts
    r = max(1, round(2.5 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    closed = bool(np.allclose(pts[0], pts[-1]))
    if closed:
        core = pts[:-1]
        r = min(r, len(core))
        padded = np.concatenate([core[-r:], core, core[:r]])
    else:
        padded = np.concatenate([np.repeat(pts[:1], r, 0), pts, np.repeat(pts[-1:], r, 0)])
    out = np.stack([np.convolve(padded[:, d], k, mode="same")[r:-r] for d in range(2)], axis=1)
    if closed:
        return np.concatenate([out, out[:1]])
    out[0], out[-1] = pts[0], pts[-1]
    return out


def trace_glyph(
    binary: NDArray[np.generic], spur_fraction: float = 0.08, speck_fraction: float = 0.02
) -> Strokes:
    """Centre-line strokes of a binary glyph: thin, trace, prune spurs, join, smooth, simplify.

    Points are in the glyph's pixel coordinates (x, y). Parts under ``speck_fraction`` of the largest one
    are dropped; spurs shorter than ``spur_fraction`` of the height (or 1.4 stroke widths) are pruned.
    """
    img = (np.asarray(binary) > 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(img, connectivity=8)
    if n <= 1:
        return []
    areas = stats[1:, cv2.CC_STAT_AREA]
    small = np.nonzero(areas < speck_fraction * areas.max())[0] + 1
    if len(small):
        img[np.isin(labels, small)] = 0
    skel = thin(img)
    ys, xs, adj = _pixel_graph(skel)
    if len(ys) == 0:
        return []
    dist = cv2.distanceTransform(img, cv2.DIST_L2, 3)
    stroke_w = 2.0 * float(np.median(dist[ys, xs]))
    height = float(ys.max() - ys.min() + 1)
    pts_all = np.stack([xs, ys], axis=1).astype(np.float64)
    chains = [pts_all[c] for c in _trace_chains(adj)]
    chains = _prune_and_merge(chains, max(spur_fraction * height, 1.4 * stroke_w))
    out: Strokes = []
    for c in chains:
        c = _smooth(c, 1.6)
        if len(c) > 2:
            approx = cv2.approxPolyDP(c.astype(np.float32).reshape(-1, 1, 2), 0.35, False)
            c = approx.reshape(-1, 2).astype(np.float64)
        out.append(c)
    return out


# ------------------------------------------------------------------------------------ rendering


def _resample(pts: Stroke, step: float) -> Stroke:
    """Points every ``step`` along a polyline (keeps both ends)."""
    if len(pts) < 2:
        return pts
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    total = s[-1]
    if total <= 1e-9:
        return pts[:1]
    n = max(2, math.ceil(total / step) + 1)
    t = np.linspace(0.0, total, n)
    return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], axis=1)


def _smooth_noise(rng: np.random.Generator, n: int, corr: float) -> NDArray[np.float64]:
    """(n, 2) smooth noise of unit-ish amplitude, correlated over ``corr`` samples."""
    r = max(1, round(2.0 * corr))
    raw = rng.standard_normal((n + 2 * r, 2))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / max(corr, 0.5)) ** 2)
    k /= np.sqrt(np.sum(k**2))
    return np.stack([np.convolve(raw[:, d], k, mode="valid") for d in range(2)], axis=1)[:n]


@dataclass(frozen=True)
class Style:
    """How a set of strokes is distorted before inking (angles in radians, sizes relative)."""

    rotation: float = 0.0
    shear: float = 0.0
    aspect: float = 1.0  # x stretch
    warp: float = 0.03  # global smooth bend, fraction of the object size
    jitter: float = 1.0  # hand tremor amplitude multiplier
    max_aspect: float = 1.6  # width is capped at this times the height


def _normalise(strokes: Strokes) -> Strokes:
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    scale = max(float(hi[1] - lo[1]), float(hi[0] - lo[0]), 1e-6)
    centre = (lo + hi) / 2.0
    return [(s - centre) / scale for s in strokes]


def render_strokes(
    strokes: Strokes, height: float, pen_width: float, rng: np.random.Generator, style: Style
) -> Ink:
    """Ink ``strokes`` (any coordinates, y down) as a mouse-pen drawing whose ink is ``height`` px tall.

    The ink height is ``height`` when the pen is at most 0.6 of it (else the pen dominates); the width
    follows the strokes' shape but never exceeds ``style.max_aspect * height``.
    """
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        raise ValueError("nothing to draw")
    strokes = _normalise(strokes)
    c, s = math.cos(style.rotation), math.sin(style.rotation)
    m = np.array([[c, -s], [s, c]]) @ np.array([[style.aspect, style.shear], [0.0, 1.0]])
    strokes = [p @ m.T for p in strokes]
    if style.warp > 0:  # smooth global bend: two random low-frequency waves
        freq = rng.normal(0.0, 2.0, size=(2, 2))
        phase = rng.uniform(0, 2 * math.pi, size=2)
        amp = rng.normal(0.0, style.warp, size=(2, 2))
        strokes = [p + np.sin(p @ freq.T + phase) @ amp for p in strokes]
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    span_w, span_h = max(float(hi[0] - lo[0]), 1e-6), max(float(hi[1] - lo[1]), 1e-6)
    pen = max(float(pen_width), 1.0)
    target_h = max(height - pen, 0.4 * height, 1.0)
    scale = target_h / span_h
    max_w = max(style.max_aspect * height - pen, 1.0)
    if span_w * scale > max_w:
        scale = max_w / span_w
    ss = 4 if height < 48 else 2 if height < 160 else 1  # supersampling for thin pens on small objects
    tremor = (rng.uniform(0.25, 0.8) + 0.004 * height) * style.jitter
    margin = pen / 2 + 3 * tremor + 3
    step = rng.uniform(2.0, 4.5)
    drawn: list[NDArray[np.int32]] = []
    dots: list[NDArray[np.float64]] = []
    for p in strokes:
        q = (p - lo) * scale + margin
        q = _resample(q, step)
        if len(q) >= 2:
            q = q + tremor * _smooth_noise(rng, len(q), corr=rng.uniform(2.0, 6.0))
            drawn.append(np.rint(q * ss * 16).astype(np.int32))
        else:
            dots.append(q[0] + tremor * rng.standard_normal(2))
    w = math.ceil((span_w * scale + 2 * margin) * ss) + 1
    h = math.ceil((span_h * scale + 2 * margin) * ss) + 1
    img = np.zeros((h, w), dtype=np.uint8)
    thickness = max(1, round(pen * ss))
    cv2.polylines(img, drawn, False, 255, thickness, cv2.LINE_AA, 4)
    for d in dots:
        centre = (round(d[0] * ss * 16), round(d[1] * ss * 16))
        cv2.circle(img, centre, max(1, round(pen * ss * 8)), 255, -1, cv2.LINE_AA, 4)
    if ss > 1:
        size = (max(1, round(w / ss)), max(1, round(h / ss)))
        img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return crop_ink(img)


def crop_ink(img: NDArray[np.uint8]) -> Ink:
    """Tight crop to the pixels above :data:`INK_THRESHOLD`, as float32 0..1."""
    mask = img >= _CROP_LEVEL
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if len(rows) == 0:
        raise ValueError("rendered object has no ink")
    crop = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.ascontiguousarray(crop, dtype=np.float32) / np.float32(255.0)


# ------------------------------------------------------------------------------------ shapes


def _ellipse(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 48) -> Stroke:
    t = np.linspace(t0, t1, max(3, int(n * abs(t1 - t0) / (2 * math.pi)) + 2))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _poly(*pts: tuple[float, float]) -> Stroke:
    return np.array(pts, dtype=np.float64)


def _spline(ctrl: NDArray[np.float64], per: int = 10) -> Stroke:
    """Catmull-Rom curve through control points."""
    p = np.concatenate([ctrl[:1], ctrl, ctrl[-1:]])
    t = np.linspace(0, 1, per, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    out.append(p[-2:-1])
    return np.concatenate(out)


def _circle_stroke(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float) -> Stroke:
    t0 = rng.uniform(0, 2 * math.pi)
    return _ellipse(cx, cy, rx, ry, t0, t0 + 2 * math.pi + rng.uniform(-0.15, 0.35))


def _shape_circle(rng: np.random.Generator) -> Strokes:
    """A circle with something inside (a plain circle reads as a zero): a dot, rings or a cross."""
    strokes = [_circle_stroke(rng, 0, 0, rng.uniform(1.0, 1.2), 1.0)]
    inside = rng.integers(3)
    if inside == 0:
        strokes.append(_poly((rng.normal(0, 0.08), rng.normal(0, 0.08))))
    elif inside == 1:
        for r in (0.6, 0.25)[: int(rng.integers(1, 3))]:
            strokes.append(_circle_stroke(rng, 0, 0, r * rng.uniform(0.9, 1.1), r))
    else:
        strokes += [_poly((-0.7, -0.7), (0.7, 0.7)), _poly((0.7, -0.7), (-0.7, 0.7))]
    return strokes


def _shape_square(rng: np.random.Generator) -> Strokes:
    w = rng.uniform(0.8, 1.7)
    return [_poly((0, 0), (w, 0), (w, 1), (0, 1), (0, -0.05))]


def _shape_triangle(rng: np.random.Generator) -> Strokes:
    top = rng.uniform(-0.3, 0.3)
    w = rng.uniform(0.9, 1.4)
    return [_poly((top, 0), (w / 2, 1), (-w / 2, 1), (top, 0))]


def _shape_star(rng: np.random.Generator) -> Strokes:
    a0 = -math.pi / 2 + rng.normal(0, 0.1)
    if rng.random() < 0.5:  # one-stroke pentagram
        idx = [0, 2, 4, 1, 3, 0]
        return [
            np.array([(math.cos(a0 + 2 * math.pi * i / 5), math.sin(a0 + 2 * math.pi * i / 5)) for i in idx])
        ]
    inner = rng.uniform(0.35, 0.5)
    radius = np.where(np.arange(11) % 2 == 0, 1.0, inner)
    angle = a0 + math.pi * np.arange(11) / 5
    return [np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)]


def _shape_heart(rng: np.random.Generator) -> Strokes:
    t = np.linspace(0, 2 * math.pi, 60)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [np.stack([x * rng.uniform(0.85, 1.15), y], axis=1)]


def _shape_arrow(rng: np.random.Generator) -> Strokes:
    length, head = 1.0, rng.uniform(0.28, 0.42)
    spread = rng.uniform(0.4, 0.8)
    tip = (length, 0.0)
    a = (length - head * math.cos(spread), head * math.sin(spread))
    b = (length - head * math.cos(spread), -head * math.sin(spread))
    if rng.random() < 0.5:
        return [_poly((0, 0), tip), _poly(a, tip, b)]
    return [_poly((0, 0), tip, a), _poly(tip, b)]


def _shape_house(rng: np.random.Generator) -> Strokes:
    w, roof = rng.uniform(0.8, 1.3), rng.uniform(0.4, 0.8)
    strokes = [
        _poly((0, roof), (0, roof + 1), (w, roof + 1), (w, roof)),
        _poly((-0.1, roof + 0.05), (w / 2, 0), (w + 0.1, roof + 0.05)),
    ]
    if rng.random() < 0.7:
        dw = w * rng.uniform(0.2, 0.3)
        x0 = rng.uniform(0.15, 0.85 - dw / w) * w
        strokes.append(_poly((x0, roof + 1), (x0, roof + 0.5), (x0 + dw, roof + 0.5), (x0 + dw, roof + 1)))
    return strokes


def _shape_sun(rng: np.random.Generator) -> Strokes:
    r = 1.0
    strokes = [_circle_stroke(rng, 0, 0, r, r)]
    n = int(rng.integers(6, 13))
    a0, inner, outer = rng.uniform(0, 2 * math.pi), r * rng.uniform(1.2, 1.4), r * rng.uniform(1.7, 2.1)
    for k in range(n):
        a = a0 + 2 * math.pi * k / n
        strokes.append(
            _poly((inner * math.cos(a), inner * math.sin(a)), (outer * math.cos(a), outer * math.sin(a)))
        )
    return strokes


def _shape_smiley(rng: np.random.Generator) -> Strokes:
    strokes = [_circle_stroke(rng, 0, 0, rng.uniform(0.95, 1.15), 1.0)]
    ex, ey = rng.uniform(0.28, 0.42), rng.uniform(-0.45, -0.25)
    for sx in (-1, 1):
        if rng.random() < 0.5:
            strokes.append(_poly((sx * ex, ey - 0.1), (sx * ex, ey + 0.1)))
        else:
            strokes.append(_poly((sx * ex, ey)))
    mood = rng.choice([1.0, 1.0, 1.0, -1.0, 0.0])
    mw, my = rng.uniform(0.35, 0.6), rng.uniform(0.25, 0.45)
    if mood == 0:
        strokes.append(_poly((-mw, my), (mw, my)))
    else:
        strokes.append(
            _ellipse(0, my - mood * 0.25, mw, 0.25, math.pi if mood > 0 else 0, 0 if mood > 0 else -math.pi)
        )
    return strokes


def _shape_cat(rng: np.random.Generator) -> Strokes:
    strokes = [_ellipse(0, 0, rng.uniform(1.0, 1.2), 0.9, -0.95 * math.pi / 2 + 0.5, 1.5 * math.pi - 0.5)]
    ear = rng.uniform(0.45, 0.7)
    strokes.append(_poly((-0.75, -0.55), (-0.8, -0.9 - ear), (-0.3, -0.85)))
    strokes.append(_poly((0.3, -0.85), (0.8, -0.9 - ear), (0.75, -0.55)))
    strokes.append(_poly((-0.35, -0.2)))
    strokes.append(_poly((0.35, -0.2)))
    strokes.append(_poly((-0.1, 0.12), (0.0, 0.22), (0.1, 0.12)))
    for sx in (-1, 1):
        for dy in (-0.05, 0.12):
            strokes.append(_poly((sx * 0.3, 0.2 + dy / 2), (sx * rng.uniform(1.1, 1.4), 0.15 + dy)))
    return strokes


def _shape_fish(rng: np.random.Generator) -> Strokes:
    blen, bh = 1.0, rng.uniform(0.3, 0.5)
    top = _ellipse(0.5, 0, 0.5, bh, math.pi, 2 * math.pi)
    bottom = _ellipse(0.5, 0, 0.5, bh, 0, math.pi)[::-1]
    tail = rng.uniform(0.25, 0.45)
    strokes = [
        np.concatenate([top, _poly((blen + tail, -tail * 0.9), (blen + tail, tail * 0.9)), bottom[::-1]]),
        _poly((0.22, -bh * 0.25)),
    ]
    if rng.random() < 0.5:
        strokes.append(_ellipse(0.35, 0, 0.12, bh * 0.8, -math.pi / 2, math.pi / 2))
    return strokes


def _shape_spiral(rng: np.random.Generator) -> Strokes:
    turns = rng.uniform(2.0, 4.0)
    t = np.linspace(0, turns * 2 * math.pi, int(40 * turns))
    r = t / t[-1]
    d = 1 if rng.random() < 0.5 else -1
    return [np.stack([r * np.cos(d * t), r * np.sin(d * t) * rng.uniform(0.8, 1.2)], axis=1)]


def _shape_scribble(rng: np.random.Generator) -> Strokes:
    n = int(rng.integers(10, 24))
    pts = rng.uniform(-1, 1, size=(n, 2)) * np.array([rng.uniform(1, 1.8), 1])
    if rng.random() < 0.5:  # a looping scribble moving sideways
        pts = np.stack([np.linspace(-1.5, 1.5, n) + rng.normal(0, 0.3, n), rng.uniform(-1, 1, n)], axis=1)
    return [_spline(pts, 8)]


def _shape_hatching(rng: np.random.Generator) -> Strokes:
    n = int(rng.integers(4, 10))
    w = rng.uniform(0.8, 1.6)
    if rng.random() < 0.4:  # zig-zag fill in one stroke
        xs = np.linspace(0, w, n)
        return [np.stack([xs, np.where(np.arange(n) % 2 == 0, 0.0, 1.0)], axis=1)]
    strokes = [_poly((w * k / (n - 1) - 0.2, 1.0), (w * k / (n - 1) + 0.2, 0.0)) for k in range(n)]
    if rng.random() < 0.4:  # cross-hatching
        strokes += [_poly((w * k / (n - 1) - 0.2, 0.0), (w * k / (n - 1) + 0.2, 1.0)) for k in range(n)]
    return strokes


def _shape_flower(rng: np.random.Generator) -> Strokes:
    n = int(rng.integers(5, 9))
    strokes = [_circle_stroke(rng, 0, 0, 0.25, 0.25)]
    for k in range(n):
        a = 2 * math.pi * k / n
        petal = _ellipse(0.62, 0, 0.37, 0.2, 0, 2 * math.pi, 24)
        c, s = math.cos(a), math.sin(a)
        strokes.append(petal @ np.array([[c, s], [-s, c]]))
    if rng.random() < 0.6:
        strokes.append(_poly((0, 1.0), (0.05, 2.2)))
    return strokes


def _shape_tree(rng: np.random.Generator) -> Strokes:
    n = int(rng.integers(5, 9))
    a = np.linspace(0, 2 * math.pi, n * 8)
    r = 1 + 0.18 * np.abs(np.sin(a * n / 2))
    crown = np.stack([r * np.cos(a) * 0.9, r * np.sin(a) * 0.8 - 0.3], axis=1)
    return [crown, _poly((-0.15, 0.45), (-0.15, 1.6)), _poly((0.15, 0.45), (0.15, 1.6))]


def _shape_stick_figure(rng: np.random.Generator) -> Strokes:
    return [
        _circle_stroke(rng, 0, -1.2, 0.3, 0.3),
        _poly((0, -0.9), (0, 0.3)),
        _poly((-0.6, rng.uniform(-0.8, -0.2)), (0, -0.5), (0.6, rng.uniform(-0.8, -0.2))),
        _poly((-0.45, 1.1), (0, 0.3), (0.45, 1.1)),
    ]


def _shape_cloud(rng: np.random.Generator) -> Strokes:
    n = int(rng.integers(3, 6))
    pts = []
    for k in range(n):
        cx = -1 + 2 * (k + 0.5) / n
        pts.append(_ellipse(cx, 0, 1.0 / n + 0.05, rng.uniform(0.3, 0.5), math.pi, 2 * math.pi, 20))
    return [np.concatenate([*pts, _poly((1.0, 0.0), (1.0, 0.25), (-1.0, 0.25), (-1.0, 0.0))])]


def _shape_wave(rng: np.random.Generator) -> Strokes:
    periods = rng.uniform(2.0, 3.5)
    x = np.linspace(0, periods * 2 * math.pi, int(30 * periods))
    return [np.stack([x / (2 * math.pi), 0.25 * rng.uniform(0.6, 1.4) * np.sin(x)], axis=1)]


def _shape_cross(rng: np.random.Generator) -> Strokes:
    w = rng.uniform(0.8, 1.2)
    return [_poly((0, 0), (w, 1)), _poly((w, 0), (0, 1))]


SHAPES: dict[str, Callable[[np.random.Generator], Strokes]] = {
    "circle": _shape_circle,
    "square": _shape_square,
    "triangle": _shape_triangle,
    "star": _shape_star,
    "heart": _shape_heart,
    "arrow": _shape_arrow,
    "house": _shape_house,
    "sun": _shape_sun,
    "smiley": _shape_smiley,
    "cat": _shape_cat,
    "fish": _shape_fish,
    "spiral": _shape_spiral,
    "scribble": _shape_scribble,
    "hatching": _shape_hatching,
    "flower": _shape_flower,
    "tree": _shape_tree,
    "stick_figure": _shape_stick_figure,
    "cloud": _shape_cloud,
    "wave": _shape_wave,
    "cross": _shape_cross,
}
_ANY_ROTATION = {"arrow", "spiral", "scribble", "hatching", "fish"}
#: Smallest height / pen ratio at which a shape is still drawn (detailed doodles need room).
_MIN_RATIO: dict[str, float] = {
    "circle": 6.0, "arrow": 5.0, "wave": 6.0, "cat": 9.0, "sun": 8.0, "flower": 9.0, "tree": 6.0,
    "smiley": 6.0, "fish": 6.0, "house": 5.0, "spiral": 7.0, "hatching": 6.0, "stick_figure": 7.0,
    "cloud": 6.0, "scribble": 5.0, "star": 5.0,
}  # fmt: skip


# ------------------------------------------------------------------------------------ censored


def censored_strokes(rng: np.random.Generator) -> tuple[Strokes, dict[str, Any]]:
    """The censored doodle upright (tip up): two balls at the base, a shaft, optional details."""
    full = rng.random() < 0.35  # full circles for balls (else only their outline)
    r = rng.uniform(0.13, 0.3)  # ball radius, shaft length 1
    c = r * (rng.uniform(0.92, 1.1) if full else rng.uniform(0.72, 0.97))  # ball centres at x = +-c
    a = c * rng.uniform(0.5, 0.95)  # shaft half-width
    yb = 0.0
    y_join = yb - math.sqrt(max(r * r - (c - a) ** 2, 1e-6))  # where the shaft meets a ball
    cap_w = a * (rng.uniform(1.0, 1.35) if rng.random() < 0.35 else 1.0)
    cap_h = a * rng.uniform(0.8, 1.6)
    y_cap = -1.0 + cap_h
    strokes: Strokes = []
    t_meet = math.acos(min(c / r, 1.0))
    t_top = -math.acos((c - a) / r)
    for sx in (-1, 1):
        if full:
            t0 = rng.uniform(0, 2 * math.pi)
            ball = _ellipse(sx * c, yb, r, r, t0, t0 + 2 * math.pi * 1.03)
        else:  # outline only: the left ball from the shaft round the outside to the middle, mirrored
            ball = _ellipse(-c, yb, r, r, t_top, t_meet - 2 * math.pi)
            ball[:, 0] *= -sx
        strokes.append(ball)
    cap = _ellipse(0, y_cap, cap_w, cap_h, math.pi, 2 * math.pi, 40)
    shaft = [_poly((-a, y_join), (-a, y_cap))]
    if cap_w > a * 1.05:
        shaft.append(_poly((-a, y_cap), (-cap_w, y_cap)))
    shaft.append(cap)
    if cap_w > a * 1.05:
        shaft.append(_poly((cap_w, y_cap), (a, y_cap)))
    shaft.append(_poly((a, y_cap), (a, y_join)))
    strokes.append(np.concatenate(shaft))
    details: list[str] = []
    if rng.random() < 0.5:
        details.append("glans")
        dip = rng.uniform(0.0, 0.5) * a
        strokes.append(
            _ellipse(0, y_cap + rng.uniform(0, 0.3) * cap_h - dip, a, dip + 1e-3, 0, math.pi, 16)[::-1]
        )
    if rng.random() < 0.3:
        details.append("tip")
        strokes.append(_poly((0, -1.0 + 0.02), (0, -1.0 + min(0.12, cap_h * 0.6))))
    if rng.random() < 0.25:
        details.append("hair")
        for _ in range(int(rng.integers(3, 8))):
            side = float(rng.choice([-1.0, 1.0]))
            t = rng.uniform(0.5 * math.pi, 1.4 * math.pi)  # outer side of the left ball, mirrored by side
            normal = np.array([math.cos(t), math.sin(t)])
            base = np.array([-c, yb]) + r * normal
            hair = np.stack([base, base + normal * rng.uniform(0.04, 0.1) + rng.normal(0, 0.02, 2)])
            hair[:, 0] *= side
            strokes.append(hair)
    if rng.random() < 0.2:
        details.append("drops")
        for k in range(int(rng.integers(1, 4))):
            y0 = -1.0 - 0.08 - 0.1 * k
            strokes.append(_poly((rng.normal(0, 0.05), y0), (rng.normal(0, 0.05), y0 - 0.04)))
    variant = "full" if full else "outline"
    return strokes, {"variant": variant, "details": details}


# ------------------------------------------------------------------------------------ factory


class ObjectFactory:
    """Draws digits, ``other`` objects and censored doodles for one split, deterministically from ``rng``.

    Sizes are in canvas px: ``height`` is the ink height of the object (see :func:`render_strokes`),
    ``pen_width`` the pen diameter.
    """

    def __init__(self, split: str, rng: np.random.Generator, cache_dir: Path | None = None) -> None:
        if split not in sources.SPLITS:
            raise ValueError(f"split must be one of {sources.SPLITS}, got {split!r}")
        self.split = split
        self.rng = rng
        mnist = sources.load_mnist(cache_dir)
        self._mnist = mnist
        self._mnist_ranges = [sources.mnist_split_range(len(m), split) for m in mnist]
        self.fonts = sources.fonts_for_split(split)
        self._font_paths = sources.font_paths(self.fonts, cache_dir)
        self._font_objs: dict[str, ImageFont.FreeTypeFont] = {}
        self.hershey = sources.hershey_for_split(split)
        self._hershey = sources.load_hershey(self.hershey, cache_dir)
        self._glyphs: dict[tuple[Any, ...], Strokes] = {}

    # -- glyph skeletons (cached, deterministic)

    def mnist_strokes(self, digit: int, index: int) -> Strokes:
        """Centre lines of an MNIST digit; empty when it is too blobby to trace (its holes filled in)."""
        key = ("mnist", digit, index)
        if key not in self._glyphs:
            img = self._mnist[digit][index]
            big = cv2.resize(img, (112, 112), interpolation=cv2.INTER_CUBIC)
            big = cv2.GaussianBlur(big, (0, 0), 2.0)
            strokes: Strokes = []
            for level in (100, 170):
                binary = big > level
                rows = np.nonzero(binary.any(1))[0]
                if len(rows) == 0:
                    break
                height = rows[-1] - rows[0] + 1
                dist = cv2.distanceTransform(binary.astype(np.uint8), cv2.DIST_L2, 3)
                if 2.0 * float(dist.max()) < MAX_BLOB_RATIO * height:
                    strokes = trace_glyph(binary, speck_fraction=0.08)
                    break
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
            max_aspect=1.3,
        )

    def _draw(self, strokes: Strokes, height: float, pen_width: float, style: Style) -> Ink:
        return render_strokes(strokes, height, pen_width, self.rng, style)

    # -- public API

    def digit(self, digit: int, height: float, pen_width: float) -> DrawnObject:
        """A digit ``digit`` (0-9), ``height`` px tall, drawn with a ``pen_width`` px pen."""
        if not 0 <= digit <= 9:
            raise ValueError(f"digit must be 0-9, got {digit}")
        rng = self.rng
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
        names = [n for n in SHAPES if _MIN_RATIO.get(n, 0.0) <= ratio]
        name = names[int(rng.integers(len(names)))]
        strokes = SHAPES[name](rng)
        rotation = rng.uniform(0, 2 * math.pi) if name in _ANY_ROTATION else rng.normal(0, 0.15)
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

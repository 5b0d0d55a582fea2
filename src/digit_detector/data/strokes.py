"""Pen strokes: glyphs thinned to skeletons, traced into strokes, and drawn back as mouse-pen ink."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Stroke = NDArray[np.float64]  # (k, 2) points x, y
Strokes = list[Stroke]
Ink = NDArray[np.float32]

INK_THRESHOLD = 0.25  # ink above this counts for the tight crop
_CROP_LEVEL = math.floor(INK_THRESHOLD * 255) + 1  # the lowest uint8 level above INK_THRESHOLD (64)


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

    def follow(start: int, first: int) -> list[int]:
        """Walk from ``start`` over ``first`` along degree-2 pixels to the next node or back to ``start``."""
        chain, prev, cur = [start], start, first
        seen.update(((start, first), (first, start)))
        while not is_node[cur] and cur != start:
            chain.append(cur)
            a, b = adj[cur]
            nxt = b if a == prev else a
            seen.update(((cur, nxt), (nxt, cur)))
            prev, cur = cur, nxt
        chain.append(cur)
        return chain

    chains: list[list[int]] = []
    for u in range(n):
        if not is_node[u]:
            continue
        if not adj[u]:
            chains.append([u])
            continue
        chains += [follow(u, v) for v in adj[u] if (u, v) not in seen]
    for u in range(n):  # loops made only of degree-2 pixels
        if not is_node[u] and (u, adj[u][0]) not in seen:
            chains.append(follow(u, adj[u][0]))
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


def drawn_back(binary: NDArray[np.generic], strokes: Strokes) -> NDArray[np.bool_]:
    """``strokes`` drawn on the grid of the binary glyph they were traced from, at its own stroke width
    (twice the median distance to paper along its skeleton)."""
    glyph = np.asarray(binary) > 0
    dist = cv2.distanceTransform(glyph.astype(np.uint8), cv2.DIST_L2, 3)
    skeleton = thin(glyph)
    width = max(1, round(2.0 * float(np.median(dist[skeleton])))) if skeleton.any() else 1
    drawn = np.zeros(glyph.shape, dtype=np.uint8)
    for stroke in strokes:
        points = np.rint(stroke).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(drawn, [points], False, 255, width)
        if len(stroke) == 1:
            cv2.circle(drawn, (int(points[0, 0, 0]), int(points[0, 0, 1])), max(1, width // 2), 255, -1)
    return np.asarray(drawn > 0)


def trace_coverage(binary: NDArray[np.generic], strokes: Strokes) -> float:
    """Share of a binary glyph's ink that its traced ``strokes`` cover when :func:`drawn_back`. A loop filled
    in the glyph thins to a line, and the redraw then misses it: a `6` traced as a `C` covers little."""
    glyph = np.asarray(binary) > 0
    if not glyph.any():
        return 0.0
    return float((glyph & drawn_back(glyph, strokes)).sum() / glyph.sum())


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

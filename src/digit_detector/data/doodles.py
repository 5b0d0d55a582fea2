"""Doodles for the non-digit classes: shapes and scribbles for ``other``, the ``censored`` drawing."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digit_detector.data.strokes import Stroke, Strokes

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
ANY_ROTATION = {"arrow", "spiral", "scribble", "hatching", "fish"}
#: Smallest height / pen ratio at which a shape is still drawn (detailed doodles need room).
MIN_SHAPE_RATIO: dict[str, float] = {
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

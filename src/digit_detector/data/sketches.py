"""Digits as people sketch them with a mouse: a few stroke templates per digit, varied at random.

MNIST, fonts and Hershey glyphs leave out shapes people often draw in the app: a ``1`` that is one straight
stroke (MNIST's are slanted and bent; fonts add a flag and a base), a ``2`` drawn as a ``Z``, an open ``4``,
a ``7`` with a bar across, a ``9`` on a straight stem. The plainest shape of each digit is left to those
sources: of the drawing probe's shapes (:mod:`digit_detector.probe_drawings`) only its straight ``1`` is
among these. Each template lies in a unit box (x 0..0.6, y 0..1, y down); :func:`sketch_strokes` moves
each of its points a little and returns the strokes for :func:`digit_detector.data.strokes.render_strokes`,
which slants, bends and shakes them like the other sources. The share of digits drawn from here is
:attr:`digit_detector.data.synth.SynthConfig.sketch_share`.
"""

from __future__ import annotations

import math

import numpy as np

from digit_detector.data.strokes import Strokes
from digit_detector.probe_drawings import arc

Template = list[list[tuple[float, float]]]

POINT_JITTER = 0.035  # of the unit height: how far each template point may move


TEMPLATES: dict[int, list[Template]] = {
    0: [
        [arc(0.3, 0.5, 0.2, 0.48, -100, 260, 18)],
        [arc(0.3, 0.5, 0.3, 0.46, -60, 330, 20)],
    ],
    1: [  # the straight stroke three times: the way most people draw a 1
        [[(0.3, 0.0), (0.3, 1.0)]],
        [[(0.36, 0.0), (0.24, 1.0)]],
        [[(0.3, 0.0), (0.31, 0.5), (0.3, 1.0)]],
        [[(0.12, 0.22), (0.34, 0.0), (0.34, 1.0)], [(0.1, 1.0), (0.58, 1.0)]],
    ],
    2: [
        [[(0.05, 0.04), (0.55, 0.04), (0.04, 1.0), (0.6, 1.0)]],
        [[*arc(0.3, 0.3, 0.27, 0.3, 180, 360, 9), (0.1, 0.95), (0.6, 0.95)]],
    ],
    3: [
        [[(0.04, 0.0), (0.55, 0.0), (0.24, 0.4), *arc(0.28, 0.7, 0.3, 0.3, -90, 150, 11)]],
        [arc(0.28, 0.25, 0.26, 0.24, 200, 430, 10), arc(0.28, 0.74, 0.3, 0.26, -110, 160, 11)],
    ],
    4: [
        [[(0.06, 0.0), (0.04, 0.58), (0.6, 0.58)], [(0.46, 0.05), (0.46, 1.0)]],
        [[(0.45, 1.0), (0.45, 0.0), (0.0, 0.65), (0.6, 0.65)]],
    ],
    5: [
        [[(0.1, 0.0), (0.05, 0.45), *arc(0.28, 0.68, 0.3, 0.3, -110, 150, 11)], [(0.1, 0.0), (0.56, 0.0)]],
    ],
    6: [
        [[(0.45, 0.0), (0.04, 0.62), *arc(0.3, 0.73, 0.26, 0.26, 180, 540, 14)]],
        [[*arc(0.6, 0.62, 0.56, 0.62, -95, -178, 6), *arc(0.31, 0.73, 0.27, 0.27, 180, 530, 14)]],
    ],
    7: [
        [[(0.0, 0.0), (0.6, 0.0), (0.22, 1.0)], [(0.12, 0.5), (0.52, 0.5)]],
        [[(0.0, 0.1), (0.05, 0.0), (0.6, 0.0), (0.35, 0.5), (0.3, 1.0)]],
    ],
    8: [
        [arc(0.3, 0.26, 0.2, 0.24, 0, 360, 12), arc(0.3, 0.74, 0.27, 0.26, 0, 360, 14)],
        [[(0.3 + 0.26 * math.sin(2 * t), 0.5 - 0.5 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 25)]],
    ],
    9: [
        [[*arc(0.28, 0.28, 0.26, 0.26, 0, 360, 12), (0.54, 0.3), (0.54, 1.0)]],
        [[*arc(0.3, 0.28, 0.26, 0.26, 0, 360, 12), (0.56, 0.35), (0.48, 0.85), (0.25, 1.0)]],
    ],
}


def sketch_strokes(digit: int, rng: np.random.Generator) -> Strokes:
    """One of ``digit``'s templates, every point moved by up to :data:`POINT_JITTER` (a straight template
    stroke stays straight: its two ends move), as strokes ``(k, 2)``."""
    templates = TEMPLATES[digit]
    template = templates[int(rng.integers(len(templates)))]
    return [
        np.asarray(stroke, dtype=np.float64) + rng.uniform(-POINT_JITTER, POINT_JITTER, (len(stroke), 2))
        for stroke in template
    ]

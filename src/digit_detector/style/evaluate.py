"""Measure the style model: ``python -m digit_detector style eval``.

For each test-split digit crop (the reserved MNIST 20 %, the test-only fonts), encode it with its true
label and decode all ten digits. Then:

* **readability**: every generated digit pasted on a white 400x400 canvas (ink height 80-160 px, seeded,
  one height per input) and run through the shipped detector: the fraction whose best digit detection is
  the intended class, at the detector's own score threshold and at any score (``top-1``);
* **style carry-over**: Pearson correlation of the input's slant and stroke thickness with those of its
  nine analogies (its own class left out), pooled and within each generated class;
* the same for **baselines that ignore the input**: ``z`` drawn from the prior, and ``z = 0``; and the
  detector on the **inputs themselves**, for reference.

The table is printed and the numbers go into the weights' metadata (``metrics.test``) with the command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from digit_detector.detector import Detector
from digit_detector.style.analogy import DEFAULT_RENDER, drawn_ink, pen_width, render_digits, row_image
from digit_detector.style.crops import CropSet
from digit_detector.style.metrics import (
    TOP1_SCORE,
    paste_heights,
    read_pasted,
    readability,
    slant,
    style_correlation,
    style_features,
)
from digit_detector.style.model import (
    NUM_DIGITS,
    StyleCVAE,
)

#: Style strengths tried by ``--choose-strength``, and the readability (top-1) they must keep.
STRENGTH_GRID: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
READABLE_GOAL = 0.90

Ink = NDArray[np.float32]


def analogies(
    model: StyleCVAE,
    crops: CropSet,
    mode: str,
    seed: int = 0,
    batch_size: int = 250,
    strength: float = 1.0,
    render: str = "soft",
) -> Ink:
    """``(N, 10, R, R)`` pen-like digits for each crop: ``mode`` "model" (posterior mean times
    ``strength``), "prior" (z ~ N(0, I), seeded, ignores the input) or "zero" (z = 0, ignores the input),
    inked as ``render`` (see :data:`~digit_detector.style.analogy.RENDERS`; "crisp": the model's digits
    with the input's measured pen, the baselines' with their own)."""
    generator = torch.Generator().manual_seed(seed)
    ink, labels = torch.from_numpy(crops.ink()), torch.from_numpy(crops.labels)
    out = []
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            chunk = slice(start, start + batch_size)
            if mode == "model":
                probabilities = model.analogies(ink[chunk], labels[chunk], strength=strength)
            elif mode == "prior":
                z = torch.randn((len(labels[chunk]), model.config.latent), generator=generator)
                probabilities = model.render_styles(z)
            elif mode == "zero":
                probabilities = model.render_styles(torch.zeros((len(labels[chunk]), model.config.latent)))
            else:
                raise ValueError(f"mode must be model, prior or zero, got {mode!r}")
            pens, slants = np.zeros((1, 1)), np.zeros((1, 1))
            if render == "crisp" and mode == "model":
                pens = np.array([[pen_width(c)] for c in ink[chunk].numpy()])
                slants = np.array([[slant(c)] for c in ink[chunk].numpy()])
            elif render == "crisp":  # the baselines ignore the input: each digit keeps its own pen, slant
                soft = drawn_ink(probabilities)
                pens = np.array([[pen_width(d) for d in row] for row in soft])
                slants = np.array([[slant(d) for d in row] for row in soft])
            out.append(render_digits(probabilities, pens, render, slants))
    return np.concatenate(out)


def score_generated(
    generated: Ink,
    crops: CropSet,
    input_features: NDArray[np.float64],
    detector: Detector | None,
    heights: NDArray[np.int64],
) -> dict[str, Any]:
    """Correlations and (with a detector) readability of ``generated`` ``(N, 10, S, S)``."""
    n, size = len(crops), crops.images.shape[-1]
    flat = generated.reshape(-1, *generated.shape[2:])
    if flat.shape[-1] != size:  # crisp digits: measured at the crop's resolution, as the inputs are
        flat_features = np.stack([cv2.resize(d, (size, size), interpolation=cv2.INTER_AREA) for d in flat])
    else:
        flat_features = flat
    features = style_features(flat_features).reshape(n, NUM_DIGITS, 2)
    result: dict[str, Any] = {
        "correlation": style_correlation(input_features, crops.labels, features).to_dict()
    }
    if detector is not None:
        own = np.zeros((n, NUM_DIGITS), dtype=bool)
        own[np.arange(n), crops.labels] = True
        intended = np.tile(np.arange(NUM_DIGITS), n)
        mask = ~own.reshape(-1)
        reads = read_pasted(
            detector,
            flat[mask],
            np.repeat(heights, NUM_DIGITS)[mask].tolist(),
            [detector.score_threshold, TOP1_SCORE],
        )
        wanted = intended[mask]
        hits = [np.array([r == c for r, c in zip(read, wanted, strict=True)]) for read in reads]
        at_threshold, top1 = (float(h.mean()) for h in hits)
        per_class = {str(c): round(float(hits[1][wanted == c].mean()), 4) for c in range(NUM_DIGITS)}
        own_at, own_top1 = readability(
            detector,
            flat[~mask],
            intended[~mask].tolist(),
            heights.tolist(),
            [detector.score_threshold, TOP1_SCORE],
        )
        result["readable"] = {
            "analogies": {
                "at_threshold": round(at_threshold, 4),
                "top1": round(top1, 4),
                "count": int(mask.sum()),
                "top1_per_class": per_class,
            },
            "own_class": {"at_threshold": round(own_at, 4), "top1": round(own_top1, 4), "count": n},
        }
    return result


def evaluate(
    model: StyleCVAE,
    crops: CropSet,
    detector: Detector | None,
    seed: int = 0,
    progress: bool = True,
    strength: float = 1.0,
    render: str = DEFAULT_RENDER,
) -> dict[str, Any]:
    """The full measurement (see the module docstring) as a JSON-ready dict, the digits inked as
    ``render``."""
    start = time.perf_counter()
    heights = paste_heights(len(crops), seed)
    input_features = style_features(crops.ink())
    report: dict[str, Any] = {"inputs": len(crops), "style_strength": strength, "render": render}
    for name, mode in (("model", "model"), ("baseline_prior", "prior"), ("baseline_zero", "zero")):
        if progress:
            print(f"  scoring {name} ...", file=sys.stderr, flush=True)
        generated = analogies(model, crops, mode, seed, strength=strength, render=render)
        report[name] = score_generated(
            generated, crops, input_features, detector if name != "baseline_zero" else None, heights
        )
    if detector is not None:
        at_threshold, top1 = readability(
            detector,
            crops.ink(),
            crops.labels.tolist(),
            heights.tolist(),
            [detector.score_threshold, TOP1_SCORE],
        )
        report["inputs_readable"] = {"at_threshold": round(at_threshold, 4), "top1": round(top1, 4)}
        report["detector_score_threshold"] = detector.score_threshold
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


def strength_curve(
    model: StyleCVAE,
    crops: CropSet,
    detector: Detector,
    strengths: Sequence[float] = STRENGTH_GRID,
    seed: int = 0,
    render: str = DEFAULT_RENDER,
) -> list[dict[str, float]]:
    """Readability (at the detector's threshold and top-1) and style correlations of the analogies at each
    style strength."""
    heights = paste_heights(len(crops), seed)
    input_features = style_features(crops.ink())
    curve = []
    for strength in strengths:
        scored = score_generated(
            analogies(model, crops, "model", seed, strength=strength, render=render),
            crops,
            input_features,
            detector,
            heights,
        )
        readable, correlation = scored["readable"]["analogies"], scored["correlation"]
        curve.append(
            {
                "strength": strength,
                "read_at_threshold": readable["at_threshold"],
                "read_top1": readable["top1"],
                "slant_r": round(correlation["slant_pooled"], 4),
                "thickness_r": round(correlation["thickness_pooled"], 4),
            }
        )
    return curve


def choose_strength(curve: Sequence[dict[str, float]], goal: float = READABLE_GOAL) -> float:
    """The strongest style whose analogies the detector reads top-1 at ``goal`` or better; when none
    does, the most readable."""
    meeting = [point["strength"] for point in curve if point["read_top1"] >= goal]
    if meeting:
        return max(meeting)
    return max(curve, key=lambda point: point["read_top1"])["strength"]


def example_indices(features: NDArray[np.float64], labels: NDArray[np.int64], count: int = 8) -> list[int]:
    """Inputs that span the styles: the most left- and right-slanted, the thinnest and thickest, then
    inputs at evenly spaced thickness ranks, never two of the same digit."""
    order_slant, order_thick = np.argsort(features[:, 0]), np.argsort(features[:, 1])
    candidates = [order_slant[0], order_slant[-1], order_thick[0], order_thick[-1]]
    candidates += [order_thick[int(q * (len(labels) - 1))] for q in np.linspace(0.1, 0.9, 4 * count)]
    chosen: list[int] = []
    for index in candidates:
        if len(chosen) < count and labels[index] not in {labels[c] for c in chosen}:
            chosen.append(int(index))
    return chosen


def example_sheet(
    model: StyleCVAE,
    crops: CropSet,
    count: int = 8,
    tile: int = 64,
    strength: float = 1.0,
    render: str = DEFAULT_RENDER,
) -> Image.Image:
    """Rows of analogies for ``count`` test inputs that span the styles: the input first, then 0-9."""
    features = style_features(crops.ink())
    indices = example_indices(features, crops.labels, count)
    subset = CropSet(crops.images[indices], crops.labels[indices])
    generated = analogies(model, subset, "model", strength=strength, render=render)
    rows = [
        row_image(generated[k], highlight=int(subset.labels[k]), tile=tile, input_crop=subset.ink()[k])
        for k in range(len(indices))
    ]
    sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    for k, row in enumerate(rows):
        sheet.paste(row, (0, k * row.height))
    return sheet


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def format_report(report: dict[str, Any]) -> str:
    """The measurements as a plain-text table."""
    threshold = report.get("detector_score_threshold")
    head = (
        f"{'':28} {'read@' + (f'{threshold:.2f}' if threshold is not None else '-'):>10} {'read top-1':>10} "
        f"{'slant r':>8} {'thick r':>8} {'slant r/cls':>11} {'thick r/cls':>11}"
    )
    lines = [
        f"style eval on {report['inputs']} test digits (analogies: the nine other classes of each)",
        head,
    ]
    for name, title in (
        ("model", f"model ({report.get('render', 'soft')}, strength {report.get('style_strength', 1.0):g})"),
        ("baseline_prior", "baseline: z ~ N(0, I)"),
        ("baseline_zero", "baseline: z = 0"),
    ):
        entry = report[name]
        corr = entry["correlation"]
        readable = entry.get("readable", {}).get("analogies", {})
        lines.append(
            f"{title:28} {_pct(readable.get('at_threshold')):>10} {_pct(readable.get('top1')):>10} "
            f"{corr['slant_pooled']:8.3f} {corr['thickness_pooled']:8.3f} "
            f"{corr['slant_within_class']:11.3f} {corr['thickness_within_class']:11.3f}"
        )
    per_class = report["model"].get("readable", {}).get("analogies", {}).get("top1_per_class")
    if per_class:
        lines.append(
            "model read top-1 per class: " + ", ".join(f"{c}: {_pct(v)}" for c, v in per_class.items())
        )
    if "inputs_readable" in report:
        ref = report["inputs_readable"]
        lines.append(f"{'the inputs themselves':28} {_pct(ref['at_threshold']):>10} {_pct(ref['top1']):>10}")
        own = report["model"]["readable"]["own_class"]
        lines.append(
            f"{'model, own class (recon.)':28} {_pct(own['at_threshold']):>10} {_pct(own['top1']):>10}"
        )
    lines.append(f"({report['seconds']:.0f} s)")
    return "\n".join(lines)

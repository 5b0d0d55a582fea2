"""Held-out handwriting drawn as mouse strokes on the app's canvas, read as the app reads it.

    .venv/bin/python experiments/held_out_mouse.py --n 1000 --seed 0 [--sheet misread.png] [--browser 40]

The test split composes the reserved MNIST digits into canvases with the data engine's augmentation
(slant, stretch, warp, hand wobble, canvas rotations up to 30 degrees, digits cut by the edge, pens up to
a third of the digit's height). This draws the same reserved digits (the test split's traced centre
lines, :meth:`ObjectFactory.mnist_strokes`, excluded originals left out) the way the app's canvas
receives them: each writer's own shape, upright, as clean strokes of the app's round pen
(:func:`digit_detector.loadgen_drawings.render_strokes`), one digit alone or 2-5 in a row, 50-160 px tall,
with pens 6, 12 (the default) and 18, the gap between digits from a slight overlap to 40 % of their
height. Prints how many lone digits are named and numbers read exactly, by pen, size and digit count, and
draws the misread ones (``--sheet``). ``--split val`` draws the validation split's MNIST digits instead, to
choose on. ``--browser N`` also draws the first N drawings with the mouse into
the running app in Chromium (``scripts/browser_probe.py``'s helpers) and compares what the page shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digit_detector.data.objects import ObjectFactory
from digit_detector.data.sources import load_mnist, mnist_split_range
from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import CANVAS_SIZE, render_strokes
from digit_detector.weights import DEFAULT_WEIGHTS

PENS = (6, 12, 18)
MARGIN = 12.0  # canvas px kept free at every edge


@dataclass
class Drawing:
    expected: str
    pen: int
    height: float
    strokes: list[list[tuple[float, float]]]


def glyph_strokes(
    factory: ObjectFactory, split_range: list[range], digit: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """A random MNIST original of ``digit`` from the split's range that the engine can trace, as centre-line
    strokes."""
    indices = split_range[digit]
    while True:
        strokes = factory.mnist_strokes(digit, int(rng.integers(indices.start, indices.stop)))
        if strokes:
            return [np.asarray(s, dtype=np.float64) for s in strokes]


def make_drawing(factory: ObjectFactory, split_range: list[range], rng: np.random.Generator) -> Drawing:
    """One drawing: 1-5 of the split's digits in a row, centred on the canvas with a little jitter."""
    count = int(rng.choice([1, 2, 3, 4, 5], p=[0.3, 0.2, 0.2, 0.15, 0.15]))
    pen = int(rng.choice(PENS))
    digits = [int(d) for d in rng.integers(0, 10, size=count)]
    glyphs = [glyph_strokes(factory, split_range, d, rng) for d in digits]
    spans = [(points.min(0), points.max(0)) for points in map(np.concatenate, glyphs)]
    widths_per_height = [max((hi[0] - lo[0]) / max(hi[1] - lo[1], 1e-6), 0.05) for lo, hi in spans]
    gaps = rng.uniform(-0.05, 0.4, size=max(count - 1, 0))
    # the tallest height at which the row (ink widths + pens + gaps) fits the canvas, capped at 50-160 px
    room = CANVAS_SIZE - 2 * MARGIN
    per_height = sum(widths_per_height) + float(gaps.sum())
    fits = (room - count * pen) / max(per_height, 1e-6)
    height = float(min(rng.uniform(50, 160), fits, room - pen))
    row_width = height * per_height + count * pen
    x = (CANVAS_SIZE - row_width) / 2 + rng.uniform(-1, 1) * max((room - row_width) / 2, 0)
    top = (CANVAS_SIZE - height) / 2 + rng.uniform(-1, 1) * max((room - height - pen) / 2, 0)
    strokes: list[list[tuple[float, float]]] = []
    for i, ((lo, hi), glyph, ratio) in enumerate(zip(spans, glyphs, widths_per_height, strict=True)):
        scale = height / max(hi[1] - lo[1], 1e-6)
        left = x + pen / 2
        for stroke in glyph:
            moved = (stroke - lo) * scale + np.array([left, top])
            strokes.append([(float(px), float(py)) for px, py in moved])
        x += ratio * height + pen + (gaps[i] * height if i < count - 1 else 0.0)
    return Drawing("".join(map(str, digits)), pen, height, strokes)


def drawings_for(split: str, n: int, seed: int) -> list[Drawing]:
    """The ``n`` drawings of ``split``'s MNIST digits that ``seed`` makes (the same for every caller)."""
    rng = np.random.default_rng(seed)
    factory = ObjectFactory(split, np.random.default_rng(seed))
    split_range = [mnist_split_range(len(images), split) for images in load_mnist()]
    return [make_drawing(factory, split_range, rng) for _ in range(n)]


def size_bucket(height: float) -> str:
    return "50-80 px" if height < 80 else "80-120 px" if height < 120 else "120-160 px"


def read_offline(detector: Detector, drawings: list[Drawing]) -> list[str]:
    """What the app would show for each drawing, read without a browser."""
    return [detector(render_strokes(d.strokes, width=d.pen)).number for d in drawings]


def read_in_browser(weights: Path, drawings: list[Drawing]) -> list[str]:
    """What the running app shows for each drawing, drawn with the mouse in Chromium."""
    from playwright.sync_api import sync_playwright

    from digit_detector.browser import launch_chromium, read_drawing, serve_app

    shown: list[str] = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        serve_app(weights, Path(scratch) / "app.log") as url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        for drawing in drawings:
            shown.append(read_drawing(page, url, drawing.strokes))
            print(f"drew {drawing.expected:>5}  read {shown[-1]!r}", file=sys.stderr)
        browser.close()
    return shown


def table(drawings: list[Drawing], reads: list[str]) -> list[str]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for drawing, read in zip(drawings, reads, strict=True):
        kind = "lone digits" if len(drawing.expected) == 1 else "numbers"
        correct = read == drawing.expected
        groups[kind].append(correct)
        groups[f"{kind}, pen {drawing.pen}"].append(correct)
        groups[f"{kind}, {size_bucket(drawing.height)}"].append(correct)
        if kind == "numbers":
            groups[f"numbers of {len(drawing.expected)} digits"].append(correct)
    lines = ["| drawings | read exactly |", "| --- | ---: |"]
    for key in sorted(groups, key=lambda k: (not k.startswith("lone"), k)):
        right = groups[key]
        lines.append(f"| {key} | {sum(right)} of {len(right)} ({100 * sum(right) / len(right):.1f} %) |")
    return lines


def misread(drawings: list[Drawing], reads: list[str]) -> str:
    """The drawings read wrong, as 'drawn->read' pairs."""
    return ", ".join(f"{d.expected}->{r!r}" for d, r in zip(drawings, reads, strict=True) if r != d.expected)


def headline(drawings: list[Drawing], reads: list[str]) -> str:
    """The lone-digit and number rows of :func:`table` on one line, and the misread drawings."""
    rows = [line for line in table(drawings, reads) if line.startswith(("| lone digits |", "| numbers |"))]
    return " ".join(rows) + "\n  misread: " + misread(drawings, reads)


def sheet(drawings: list[Drawing], reads: list[str], out: Path, tile: int = 200) -> None:
    wrong = [(d, r) for d, r in zip(drawings, reads, strict=True) if r != d.expected][:60]
    columns = 6
    rows = max(1, -(-len(wrong) // columns))
    picture = Image.new("RGB", (columns * tile, rows * tile), "white")
    pen = ImageDraw.Draw(picture)
    for i, (drawing, read) in enumerate(wrong):
        canvas = Image.fromarray(render_strokes(drawing.strokes, width=drawing.pen)).convert("RGB")
        x, y = (i % columns) * tile, (i // columns) * tile
        picture.paste(canvas.resize((tile - 4, tile - 4)), (x + 2, y + 2))
        pen.rectangle([x, y, x + tile - 1, y + tile - 1], outline=(180, 180, 180))
        pen.text((x + 4, y + 4), f"{drawing.expected} read {read or '-'!r}", fill=(200, 0, 0))
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--split", default="test", choices=("val", "test"), help="whose MNIST digits")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", type=Path, default=None)
    parser.add_argument("--browser", type=int, default=0, help="draw N default-pen drawings in Chromium")
    parser.add_argument("--json", type=Path, default=None, help="write every drawing and its reading here")
    args = parser.parse_args()
    drawings = drawings_for(args.split, args.n, args.seed)
    detector = Detector.from_weights(args.weights, device="cpu")
    reads = read_offline(detector, drawings)
    print("\n".join(table(drawings, reads)))
    print("misread:", misread(drawings, reads))
    if args.sheet:
        sheet(drawings, reads, args.sheet)
    if args.json:
        records = [
            {"expected": d.expected, "pen": d.pen, "height": round(d.height, 1), "read": r}
            for d, r in zip(drawings, reads, strict=True)
        ]
        args.json.write_text(json.dumps(records))
    if args.browser:
        indices = [i for i, d in enumerate(drawings) if d.pen == 12][: args.browser]
        chosen, offline = [drawings[i] for i in indices], [reads[i] for i in indices]
        shown = read_in_browser(args.weights, chosen)
        agree = sum(s == o for s, o in zip(shown, offline, strict=True))
        print("in the browser (default pen):")
        print("\n".join(table(chosen, shown)))
        print(f"the page shows what the offline reading gives on {agree} of {len(chosen)}")


if __name__ == "__main__":
    main()

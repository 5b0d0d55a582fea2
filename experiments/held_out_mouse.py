"""Held-out handwriting drawn as mouse strokes on the app's canvas, read as the app reads it.

    .venv/bin/python experiments/held_out_mouse.py --n 1000 --seed 0 [--sheet misread.png] [--browser 40]

Draws held-out handwriting as the app's canvas receives it (:mod:`digit_detector.held_out_rows`: the test
split's reserved MNIST digits, upright, as clean strokes of the app's round pen, one alone or 2-5 in a row,
50-160 px tall, pens 6, 12 and 18) and reads it as the app does. Prints how many lone digits are named and
numbers read exactly, by pen, size and digit count, and draws the misread ones (``--sheet``). ``--split
val`` draws the validation split's MNIST digits instead, to choose on. ``--browser N`` also draws the first
N default-pen drawings with the mouse into the running app in Chromium and compares what the page shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from PIL import Image, ImageDraw

from digit_detector.detector import Detector
from digit_detector.held_out_rows import Drawing, held_out_drawings
from digit_detector.weights import DEFAULT_WEIGHTS


def size_bucket(height: float) -> str:
    return "50-80 px" if height < 80 else "80-120 px" if height < 120 else "120-160 px"


def read_offline(detector: Detector, drawings: list[Drawing]) -> list[str]:
    """What the app would show for each drawing, read without a browser."""
    return [detector(d.canvas()).number for d in drawings]


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


def add_mouse_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of an experiment that also reads these drawings: ``--mouse SPLIT``, ``--n``, ``--seed``."""
    parser.add_argument("--mouse", choices=("val", "test"), default=None, help="held_out_mouse.py's drawings")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)


def read_variants(split: str, n: int, seed: int, variants: Iterable[tuple[str, Callable[[], None]]]) -> None:
    """For each (name, apply) of ``variants``: apply it (a patch of the reading pipeline), read the drawings
    of ``split`` as the app does and print the lone digits and numbers read, and the misread drawings."""
    drawings = held_out_drawings(split, n, seed)
    for name, apply in variants:
        apply()
        reads = read_offline(Detector.from_weights(None, device="cpu"), drawings)
        print(f"{name}: {headline(drawings, reads)}", flush=True)


def sheet(drawings: list[Drawing], reads: list[str], out: Path, tile: int = 200) -> None:
    wrong = [(d, r) for d, r in zip(drawings, reads, strict=True) if r != d.expected][:60]
    columns = 6
    rows = max(1, -(-len(wrong) // columns))
    picture = Image.new("RGB", (columns * tile, rows * tile), "white")
    pen = ImageDraw.Draw(picture)
    for i, (drawing, read) in enumerate(wrong):
        canvas = Image.fromarray(drawing.canvas()).convert("RGB")
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
    drawings = held_out_drawings(args.split, args.n, args.seed)
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

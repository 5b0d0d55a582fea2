"""Drawing probe: mouse-drawn digits and numbers in the real app, read back from the page.

    .venv/bin/python scripts/browser_probe.py [--weights FILE] [--json]

Serves ``app.py`` (the shipped weights by default), opens it in Debian's chromium and draws, as mouse
strokes, each digit 0-9 at three sizes (110 and 220 px with the default pen 12, 350 px - nearly the whole
canvas - with the thinnest, default and thickest pens 3, 12 and 25) and a few numbers of 2-4 digits (three
of them with each digit touching the next, as numbers written fast are), the way a person draws with a
mouse (one or two strokes per digit); reloads the page between drawings and compares the number the page
shows with the one drawn. This is the canvas-to-model gap check of the data
issue: strokes from a real canvas, not from our generator.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digit_detector.browser import (  # noqa: E402
    EMPTY_PROMPT,
    Point,
    draw,
    launch_chromium,
    number_shown,
    serve_app,
    set_slider,
)
from digit_detector.weights import default_weights_path  # noqa: E402

Stroke = list[tuple[float, float]]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 14) -> Stroke:
    """Points on an ellipse from angle ``start`` to ``end`` (degrees, 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(start + (end - start) * i / (n - 1))),
         cy + ry * math.sin(math.radians(start + (end - start) * i / (n - 1))))
        for i in range(n)
    ]  # fmt: skip


# Each digit in a unit box (x 0..0.6, y 0..1), as a person draws it with the mouse.
DIGITS: dict[str, list[Stroke]] = {
    "0": [arc(0.3, 0.5, 0.28, 0.48, -90, 275, 20)],
    "1": [[(0.15, 0.2), (0.35, 0.0), (0.35, 1.0)]],
    "2": [[*arc(0.3, 0.28, 0.26, 0.26, 190, 370, 10), (0.5, 0.45), (0.02, 1.0), (0.6, 1.0)]],
    "3": [arc(0.28, 0.25, 0.26, 0.24, 200, 450, 12) + arc(0.28, 0.74, 0.3, 0.26, -90, 160, 12)],
    "4": [[(0.42, 0.0), (0.0, 0.65), (0.6, 0.65)], [(0.45, 0.3), (0.45, 1.0)]],
    "5": [[(0.55, 0.0), (0.08, 0.0), (0.05, 0.45), *arc(0.28, 0.68, 0.3, 0.3, -110, 150, 12)]],
    "6": [[(0.5, 0.0), (0.2, 0.3), *arc(0.3, 0.72, 0.27, 0.27, 190, 550, 16)]],
    "7": [[(0.0, 0.0), (0.6, 0.0), (0.2, 1.0)]],
    "8": [arc(0.3, 0.26, 0.22, 0.24, 90, 450, 14) + arc(0.3, 0.74, 0.28, 0.26, -90, 270, 16)],
    "9": [[*arc(0.3, 0.28, 0.26, 0.26, 0, 360, 14), (0.56, 0.3), (0.5, 1.0)]],
}


def digit_strokes(digit: str, x: float, y: float, height: float) -> list[list[Point]]:
    return [[(x + px * height, y + py * height) for px, py in stroke] for stroke in DIGITS[digit]]


def number_strokes(number: str, x: float, y: float, height: float, step: float = 0.85) -> list[list[Point]]:
    """The digits of ``number`` side by side, ``step`` x ``height`` apart (0.6: each touches the next)."""
    strokes: list[list[Point]] = []
    for index, digit in enumerate(number):
        strokes += digit_strokes(digit, x + index * step * height, y, height)
    return strokes


# pen-width slider key -> pen width: the app's minimum, default (no key) and maximum
PENS: dict[str | None, int] = {"Home": 3, None: 12, "End": 25}


def drawings() -> list[tuple[str, str, list[list[Point]], str | None]]:
    """(expected, kind, strokes, pen slider key) for every drawing of the probe."""
    cases: list[tuple[str, str, list[list[Point]], str | None]] = []
    cases += [(d, "digit 220 px", digit_strokes(d, 140, 90, 220), None) for d in DIGITS]
    cases += [
        (d, "digit 110 px", digit_strokes(d, 40 + 25 * int(d), 40 + 20 * int(d), 110), None) for d in DIGITS
    ]
    for key, pen in PENS.items():
        # y from 40: the canvas toolbar drops strokes that start in its strip (top right, y < 35)
        cases += [(d, f"digit 350 px pen {pen}", digit_strokes(d, 95, 40, 350), key) for d in DIGITS]
    cases += [
        ("42", "number", number_strokes("42", 80, 120, 150), None),
        ("317", "number", number_strokes("317", 40, 140, 120), None),
        ("2026", "number", number_strokes("2026", 20, 150, 90), None),
        ("58", "number", number_strokes("58", 100, 60, 180), None),
        ("90", "number", number_strokes("90", 90, 200, 120), None),
        ("1234", "number", number_strokes("1234", 30, 100, 100), None),
        ("85", "touching number", number_strokes("85", 100, 120, 150, step=0.6), None),
        ("47", "touching number", number_strokes("47", 60, 200, 110, step=0.6), None),
        ("2026", "touching number", number_strokes("2026", 30, 140, 120, step=0.6), None),
    ]
    return cases


def probe(url: str) -> list[dict[str, str | bool]]:
    from playwright.sync_api import sync_playwright

    results: list[dict[str, str | bool]] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        for expected, kind, strokes, pen_key in drawings():
            page.goto(url)
            page.get_by_text(EMPTY_PROMPT).wait_for()
            if pen_key is not None:
                set_slider(page, "Pen width", pen_key)
                page.get_by_text(EMPTY_PROMPT).wait_for()
            draw(page, strokes)
            page.wait_for_timeout(
                400
            )  # a stroke sent mid-drawing may still be answered: let the last one land
            read = number_shown(page).replace("\n", " ")
            results.append({"drawn": expected, "kind": kind, "read": read, "correct": read == expected})
            print(f"drew {expected:>5} ({kind})  read {read!r}", file=sys.stderr)
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="weights (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    weights = args.weights or default_weights_path()
    with tempfile.TemporaryDirectory() as scratch, serve_app(weights, Path(scratch) / "streamlit.log") as url:
        results = probe(url)
    kinds = list(dict.fromkeys(str(r["kind"]) for r in results))
    by_kind = {
        kind: f"{sum(bool(r['correct']) for r in results if r['kind'] == kind)}/"
        f"{sum(r['kind'] == kind for r in results)}"
        for kind in kinds
    }
    summary = {"weights": str(weights), "correct_by_kind": by_kind, "results": results}
    if args.json:
        print(json.dumps(summary))
    else:
        print("read correctly: " + "; ".join(f"{kind} {score}" for kind, score in by_kind.items()))
        print("misses: " + ", ".join(f"{r['drawn']}->{r['read']!r}" for r in results if not r["correct"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

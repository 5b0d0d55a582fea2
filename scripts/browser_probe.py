"""Drawing probe: mouse-drawn digits and numbers in the real app, read back from the page.

    .venv/bin/python scripts/browser_probe.py [--weights FILE] [--json]

Serves ``app.py`` (the shipped weights by default), opens it in Debian's chromium and draws, as mouse
strokes, each digit 0-9 at three sizes (110 and 220 px with the default pen 12, 350 px - nearly the whole
canvas - with the thinnest, default and thickest pens 3, 12 and 25), a 1 drawn as one straight stroke
(110 px, and 350 px with those three pens), and a few numbers of 2-4 digits (three of them with each digit
touching the next, as numbers written fast are, and four whose 1s are straight strokes), the way a person
draws with a mouse (one or two strokes per digit); reloads the page between drawings and compares the
number the page shows with the one drawn. This is the canvas-to-model gap check of the data issue: strokes
from a real canvas, not from our generator.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from digit_detector.browser import launch_chromium, read_drawing, serve_app  # noqa: E402
from digit_detector.probe_drawings import probe_drawings  # noqa: E402
from digit_detector.weights import default_weights_path  # noqa: E402


def probe(url: str) -> list[dict[str, str | bool]]:
    from playwright.sync_api import sync_playwright

    results: list[dict[str, str | bool]] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        for drawing in probe_drawings():
            expected, kind = drawing.expected, drawing.kind
            read = read_drawing(page, url, drawing.strokes, drawing.pen_key)
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

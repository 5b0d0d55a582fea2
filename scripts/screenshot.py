"""The README's screenshot: the running app in headless Chromium with a number drawn by mouse strokes.

Run from the repository root:

    python scripts/screenshot.py --out docs/app.png [--number 2026] [--weights FILE]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from digit_detector.browser import draw, launch_chromium, number_shown, open_draw_page, serve_app
from digit_detector.probe_drawings import number_strokes
from digit_detector.weights import default_weights_path


def screenshot(url: str, number: str, out: Path) -> str:
    """Draw ``number`` on the Draw page, wait for its result and save the page; returns what it read."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        page.set_default_timeout(120_000)
        open_draw_page(page, url)
        height = min(150.0, 340.0 / (0.85 * len(number)))
        draw(page, number_strokes(number, 30, 120, height))
        page.wait_for_function(
            "expected => document.body.innerText.includes(expected)", arg=number, timeout=120_000
        )
        read = number_shown(page)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    return read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/app.png"), help="PNG to write")
    parser.add_argument("--number", default="2026", help="digits to draw (default 2026)")
    parser.add_argument("--weights", type=Path, default=None, help="weights (default: the shipped model)")
    args = parser.parse_args(argv)
    weights = args.weights or default_weights_path()
    with tempfile.TemporaryDirectory() as scratch, serve_app(weights, Path(scratch) / "streamlit.log") as url:
        read = screenshot(url, args.number, args.out)
    print(f"drew {args.number}, the app read {read!r}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

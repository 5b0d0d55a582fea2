"""The app in a real browser, for end-to-end tests, the responsiveness benchmark and the drawing probe.

Serves ``app.py`` with ``streamlit run`` on a free loopback port and drives Debian's chromium with Playwright
(``playwright install`` cannot download browsers here). Development tooling: the app never imports it.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

from digit_detector.bundled import source_checkout
from digit_detector.serving import serving
from digit_detector.weights import WEIGHTS_ENV

ROOT = source_checkout() or Path.cwd()  # app.py is not part of the package: it lives in the checkout
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
EMPTY_PROMPT = "Draw a digit"
# true once the result image differs from ``before`` (its src changes with every new result) and has loaded
NEW_RESULT_JS = """before => {
    const img = document.querySelector('[data-testid="stImage"] img');
    return img !== null && img.getAttribute('src') !== before && img.complete;
}"""
# true once the Draw page's number was read from a drawing of at least ``total`` strokes (or the page shows no
# number: another page). A stroke sent while the next was drawn is answered too, and its read can land first.
STROKES_READ_JS = """total => {
    const number = document.querySelector('.dd-number');
    return number === null || Number(number.dataset.strokes || 0) >= total;
}"""
# the same, on the Draw page only: the number must be there (a busy or rerunning page shows none for a moment)
NUMBER_READ_JS = """total => {
    const number = document.querySelector('.dd-number');
    return number !== null && Number(number.dataset.strokes || 0) >= total;
}"""
Point = tuple[float, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_app(weights: Path, log_path: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``streamlit run app.py`` with ``weights`` on a free loopback port; yields its URL, stops it after."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    environment = {**os.environ, **(env or {}), WEIGHTS_ENV: str(weights), "PYTHONUNBUFFERED": "1"}
    url = f"http://127.0.0.1:{port}"
    with serving(command, url, log_path, name="streamlit", timeout_s=60, cwd=ROOT, env=environment):
        yield url


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"no {CHROMIUM}: apt-get install -y chromium (scripts/test.sh does)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))


def result_src(page: Page) -> str:
    """The result image's URL ('' when none): it changes whenever the result is drawn anew."""
    images = page.locator('[data-testid="stImage"] img')
    return images.first.get_attribute("src") or "" if images.count() else ""


def strokes_read(page: Page) -> int:
    """How many strokes the drawing held whose number the Draw page shows (0 when none is shown)."""
    numbers = page.locator(".dd-number")
    return int(numbers.first.get_attribute("data-strokes") or 0) if numbers.count() else 0


def draw(page: Page, strokes: Sequence[Sequence[Point]], steps: int = 6) -> float:
    """Draw strokes (canvas pixels, 0-400) with the mouse on the Draw page's canvas and wait for the new
    result image and, on the Draw page, for the number read from all of them (not from a drawing the
    canvas sent between two strokes); returns the seconds from the last mouse-up to the result shown."""
    box = page.locator("canvas").last.bounding_box()
    if box is None:
        raise RuntimeError("the drawing canvas is not visible")
    before = result_src(page)
    total = strokes_read(page) + len(strokes)
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
        page.mouse.up()
    released = time.perf_counter()
    page.wait_for_function(NEW_RESULT_JS, arg=before, polling="raf")
    page.wait_for_function(STROKES_READ_JS, arg=total, polling="raf")
    return time.perf_counter() - released


def number_shown(page: Page) -> str:
    """The number the Draw page shows in large type ('' for the dash shown when no digit was read)."""
    text = page.locator(".dd-number").first.inner_text().strip()
    return "" if text == "—" else text


def set_slider(page: Page, label: str, key: str) -> None:
    """Move the Streamlit slider labelled ``label`` with a key press ('Home': minimum, 'End': maximum)."""
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press(key)


def open_draw_page(page: Page, url: str, pen_key: str | None = None) -> None:
    """Load the Draw page afresh (an empty canvas) and wait for its prompt; ``pen_key`` ('Home', 'End')
    moves the pen-width slider first."""
    page.goto(url)
    page.get_by_text(EMPTY_PROMPT).wait_for()
    if pen_key is not None:
        set_slider(page, "Pen width", pen_key)
        page.get_by_text(EMPTY_PROMPT).wait_for()


def read_drawing(page: Page, url: str, strokes: Sequence[Sequence[Point]], pen_key: str | None = None) -> str:
    """Draw ``strokes`` on a fresh Draw page and return the number it shows (lines joined by spaces), read
    from all of them."""
    open_draw_page(page, url, pen_key)
    draw(page, strokes)
    page.wait_for_function(NUMBER_READ_JS, arg=len(strokes), polling="raf")
    return number_shown(page).replace("\n", " ")

"""End-to-end tests of the Streamlit app in a real browser (Debian's chromium driven by Playwright).

A session fixture serves ``app.py`` with ``streamlit run`` on a free loopback port, with randomly initialised
weights: the tests check what holds for any weights (prompt, result image, model time, threshold, backend,
pages, phone layout). ``test_reads_one_and_seven`` draws real digits for the trained weights, when present.
Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, FloatRect, Page, expect, sync_playwright  # noqa: E402

from digit_detector.weights import DEFAULT_WEIGHTS, WEIGHTS_ENV  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROMPT = "Draw a digit"
TIMEOUT_MS = 30_000
Point = tuple[float, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_app(weights: Path, log_path: Path) -> Iterator[str]:
    """``streamlit run app.py`` on a free loopback port with ``weights``; yields its URL, stops it after."""
    port = free_port()
    env = {**os.environ, WEIGHTS_ENV: str(weights), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"streamlit exited with {process.returncode}: {log_path.read_text()}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start in 60 s: {log_path.read_text()}")
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium (scripts/test.sh does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def app_url(random_tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served with random weights (a private copy: the onnxruntime backend exports beside it)."""
    folder = tmp_path_factory.mktemp("app-weights")
    weights = Path(shutil.copy(random_tiny_weights, folder))
    shutil.copy(random_tiny_weights.with_suffix(".json"), folder)
    with serve_app(weights, folder / "streamlit.log") as url:
        yield url


def open_app(browser: Browser, url: str, width: int = 1280, height: int = 1000) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_text(PROMPT).wait_for()
    return page


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[Page]:
    page = open_app(browser, app_url)
    yield page
    page.context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def drawing_surface(page: Page) -> FloatRect:
    """The drawable canvas's bounding box (its last <canvas> takes the mouse)."""
    box = page.locator("canvas").last.bounding_box()
    assert box is not None, "the drawing canvas is not visible"
    return box


def result_src(page: Page) -> str:
    """The result image's URL ('' when none): it changes whenever the result is drawn anew."""
    images = page.locator('[data-testid="stImage"] img')
    return images.first.get_attribute("src") or "" if images.count() else ""


def draw(page: Page, strokes: Sequence[Sequence[Point]], steps: int = 6) -> None:
    """Draw strokes given in canvas pixels (0-400) with the mouse, and wait for the new result image."""
    box = drawing_surface(page)
    before = result_src(page)
    for stroke in strokes:
        (x, y), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
        page.mouse.up()
    page.wait_for_function(
        """before => {
            const img = document.querySelector('[data-testid="stImage"] img');
            return img !== null && img.getAttribute('src') !== before && img.complete;
        }""",
        arg=before,
    )


ONE: list[list[Point]] = [[(170, 90), (200, 70), (200, 330)]]
SEVEN: list[list[Point]] = [[(120, 80), (280, 80), (180, 330)]]


def caption(page: Page) -> str:
    """The result caption: 'Model time N ms (backend) · K objects at score ≥ S'."""
    element = page.get_by_text(re.compile(r"^Model time")).first
    element.wait_for()
    return element.inner_text()


def objects_found(page: Page, score: str) -> int:
    """The object count of the caption once it shows the score threshold ``score`` (e.g. '0.00')."""
    text = page.get_by_text(re.compile(rf"objects? at score ≥ {re.escape(score)}$"))
    text.wait_for()
    match = re.search(r"(\d+) objects? at score", text.inner_text())
    assert match is not None
    return int(match.group(1))


def set_slider(page: Page, label: str, key: str) -> None:
    """Move a Streamlit slider to an end with the keyboard ('Home' or 'End')."""
    thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press(key)


def test_empty_canvas_shows_prompt_and_no_result(page: Page) -> None:
    expect(page.get_by_text(PROMPT)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Model time"))).to_have_count(0)
    expect(page.locator('[data-testid="stImage"]')).to_have_count(0)
    box = drawing_surface(page)
    assert (box["width"], box["height"]) == (400, 400)
    expect(page.locator('[data-testid="stSlider"]').filter(has_text="Pen width")).to_contain_text("12")
    screenshot(page, "01-empty")


def test_stroke_shows_boxes_and_model_time(page: Page) -> None:
    draw(page, ONE)
    expect(page.get_by_text(PROMPT)).to_have_count(0)
    assert re.match(r"Model time \d+ ms \(torch\) · \d+ objects? at score ≥ 0\.50", caption(page))
    image = page.locator('[data-testid="stImage"] img').first
    expect(image).to_be_visible()
    assert image.evaluate("img => [img.naturalWidth, img.clientWidth]") == [800, 400]
    screenshot(page, "02-stroke")


def test_score_threshold_changes_detections(page: Page) -> None:
    draw(page, SEVEN)
    set_slider(page, "Score threshold", "Home")
    assert objects_found(page, "0.00") > 0
    expect(page.locator("table.dd-detections tbody tr").first).to_be_visible()
    screenshot(page, "03-threshold-0")
    set_slider(page, "Score threshold", "End")
    assert objects_found(page, "1.00") == 0
    expect(page.get_by_text("Nothing found at this score threshold")).to_be_visible()
    expect(page.locator("table.dd-detections")).to_have_count(0)


def test_onnxruntime_backend(page: Page) -> None:
    draw(page, ONE)
    page.get_by_text("Advanced").click()
    page.get_by_text("onnxruntime", exact=True).click()
    page.get_by_text(re.compile(r"^Model time \d+ ms \(onnxruntime\)")).wait_for(timeout=90_000)
    expect(page.locator('[data-testid="stAlert"]')).to_have_count(0)
    screenshot(page, "04-onnxruntime")


def test_undo_and_reset_bring_the_prompt_back(page: Page) -> None:
    draw(page, ONE)
    page.get_by_role("button", name="Undo", exact=True).click()
    expect(page.get_by_text(PROMPT)).to_be_visible()
    draw(page, SEVEN)
    page.get_by_role("button", name="Reset canvas & history").click()
    expect(page.get_by_text(PROMPT)).to_be_visible()
    expect(page.locator('[data-testid="stImage"]')).to_have_count(0)


def test_about_page(page: Page) -> None:
    page.set_viewport_size({"width": 1280, "height": 2600})  # the whole page in one screenshot
    page.get_by_role("link", name="About").click()
    expect(page.get_by_role("heading", name="How it works")).to_be_visible()
    expect(page.locator('[data-testid="stGraphVizChart"] svg')).to_be_visible()
    expect(page.get_by_text("The 12 classes")).to_be_visible()
    expect(page.get_by_role("cell", name="censored", exact=True)).to_be_visible()
    expect(page.get_by_text("2017")).to_be_visible()
    screenshot(page, "05-about")


def test_phone_layout_stacks(browser: Browser, app_url: str) -> None:
    page = open_app(browser, app_url, width=390, height=844)
    try:
        draw(page, ONE)
        canvas = drawing_surface(page)
        result = page.locator('[data-testid="stImage"] img').first.bounding_box()
        assert result is not None
        assert result["y"] >= canvas["y"] + canvas["height"], "the result should sit below the canvas"
        assert result["x"] + result["width"] <= 390
        page.locator('[data-testid="stImage"] img').first.scroll_into_view_if_needed()
        screenshot(page, "06-phone")
    finally:
        page.context.close()


@pytest.mark.slow
@pytest.mark.skipif(
    not DEFAULT_WEIGHTS.is_file(),
    reason=f"needs the trained weights {DEFAULT_WEIGHTS.relative_to(ROOT)}, which do not exist yet",
)
def test_reads_one_and_seven(browser: Browser, tmp_path: Path) -> None:
    with serve_app(DEFAULT_WEIGHTS, tmp_path / "streamlit.log") as url:
        page = open_app(browser, url)
        try:
            draw(page, [[(90, 110), (125, 85), (125, 310)], [(200, 100), (330, 100), (240, 310)]])
            # the canvas may send the drawing between the strokes: wait for the read of both
            expect(page.locator(".dd-number")).to_have_text("17")
            screenshot(page, "07-trained-17")
        finally:
            page.context.close()

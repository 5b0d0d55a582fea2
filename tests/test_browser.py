"""End-to-end tests of the Streamlit app in a real browser (Debian's chromium driven by Playwright).

A session fixture serves ``app.py`` with ``streamlit run`` on a free loopback port, with randomly initialised
weights: the tests check what holds for any weights (prompt, result image, model time, threshold, backend,
pages, phone layout). ``test_reads_one_and_seven`` draws real digits for the trained weights, when present.
Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, FloatRect, Page, expect, sync_playwright  # noqa: E402

from digit_detector.browser import (  # noqa: E402
    EMPTY_PROMPT,
    Point,
    draw,
    launch_chromium,
    open_draw_page,
    serve_app,
    set_slider,
)
from digit_detector.feedback import FEEDBACK_DIR_ENV  # noqa: E402
from digit_detector.ui.improve_page import CONSENT_TEXT  # noqa: E402
from digit_detector.ui.style_page import STYLE_PROMPT  # noqa: E402
from digit_detector.weights import DEFAULT_WEIGHTS  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PROMPT = EMPTY_PROMPT
TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def app_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="session")
def feedback_dir(app_folder: Path) -> Path:
    """Where the served app's "Improve the model" page stores shared drawings."""
    return app_folder / "feedback"


@pytest.fixture(scope="session")
def app_url(random_tiny_weights: Path, app_folder: Path, feedback_dir: Path) -> Iterator[str]:
    """The app served with random weights (a private copy: the onnxruntime backend exports beside it)."""
    weights = Path(shutil.copy(random_tiny_weights, app_folder))
    shutil.copy(random_tiny_weights.with_suffix(".json"), app_folder)
    with serve_app(weights, app_folder / "streamlit.log", {FEEDBACK_DIR_ENV: str(feedback_dir)}) as url:
        yield url


def open_app(browser: Browser, url: str, width: int = 1280, height: int = 1000) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    open_draw_page(page, url)
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
    choice = page.get_by_role("radio", name="onnxruntime")
    for _ in range(3):  # a click that lands while the page reruns after the stroke can be lost: click again
        page.get_by_text("onnxruntime", exact=True).click()
        try:
            expect(choice).to_be_checked(timeout=20_000)
            break
        except AssertionError:
            continue
    expect(choice).to_be_checked()
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


def test_improve_page_stores_only_after_consent(page: Page, feedback_dir: Path) -> None:
    draw(page, SEVEN)
    page.get_by_role("link", name="Improve the model").click()
    consent = page.locator('[data-testid="stCheckbox"]').filter(has_text=CONSENT_TEXT)
    consent.wait_for()
    send = page.get_by_role("button", name="Send", exact=True)
    send.click()
    expect(page.get_by_text(re.compile("^Nothing was stored"))).to_be_visible()
    assert not feedback_dir.exists() or not any(feedback_dir.rglob("*.png"))
    consent.click()
    send.click()
    expect(page.get_by_text(re.compile(r"^Thank you! Stored as sample"))).to_be_visible()
    assert len(list((feedback_dir / "images" / "train").glob("*.png"))) == 1
    assert len((feedback_dir / "feedback.jsonl").read_text().splitlines()) == 1
    screenshot(page, "07-improve-sent")


def test_about_page(page: Page) -> None:
    page.set_viewport_size({"width": 1280, "height": 2600})  # the whole page in one screenshot
    page.get_by_role("link", name="About").click()
    expect(page.get_by_role("heading", name="How it works")).to_be_visible()
    expect(page.locator('[data-testid="stGraphVizChart"] svg')).to_be_visible()
    expect(page.get_by_text("The 12 classes")).to_be_visible()
    expect(page.get_by_role("cell", name="censored", exact=True)).to_be_visible()
    expect(page.get_by_text("2017")).to_be_visible()
    screenshot(page, "05-about")


def test_your_style_page_shows_ten_digits(page: Page) -> None:
    page.get_by_role("link", name="Your style").click()
    page.get_by_text(STYLE_PROMPT).wait_for()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Digit").click()
    page.get_by_role("option", name="7", exact=True).click()
    expect(page.get_by_role("combobox", name="Digit")).to_have_value("7")
    seconds = draw(page, SEVEN)  # from the mouse-up to the row shown
    expect(page.get_by_text("Your digit: 7 (you picked)")).to_be_visible()
    row = page.locator('[data-testid="stImage"] img').first
    assert row.evaluate("img => img.naturalWidth") == 5 * 156 + 4  # two lines of five 152 px tiles
    shown = row.bounding_box()
    assert shown is not None and shown["width"] >= 130 / 152 * (5 * 156 + 4)  # digits >= 130 px on screen
    expect(page.get_by_test_id("stDownloadButton")).to_be_visible()
    print(f"style page: stroke to row {1000 * seconds:.0f} ms")
    assert seconds < 2.0  # 0.44 s measured on a busy 2-core machine (goal 0.5 s); generous for CI runners
    screenshot(page, "08-your-style")


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


@pytest.mark.slow
def test_a_drawing_nothing_in_reaches_the_threshold_shows_its_best_guess(
    browser: Browser, tmp_path: Path
) -> None:
    """With the shipped weights (a best-guess floor) and the threshold at its maximum, a drawn `7` is still
    answered, and the caption says it is the most likely box, not one over the threshold."""
    with serve_app(DEFAULT_WEIGHTS, tmp_path / "streamlit.log") as url:
        page = open_app(browser, url)
        try:
            draw(page, SEVEN)
            expect(page.locator(".dd-number")).to_have_text("7")
            set_slider(page, "Score threshold", "End")
            expect(
                page.get_by_text(re.compile(r"nothing at objectness ≥ 1\.00: the most likely box"))
            ).to_be_visible()
            expect(page.locator(".dd-number")).to_have_text("7")
            screenshot(page, "08-best-guess")
        finally:
            page.context.close()


# the class of the element the Draw page's canvas component shows at canvas pixel (x, y): its shadow root's
# hit test (the component isolates its styles there; the drawing surface is fabric's "upper-canvas")
ELEMENT_AT_JS = """([x, y]) => {
    const hosts = [...document.querySelectorAll('*')].filter(e => e.shadowRoot?.querySelector('.dc-root'));
    const root = hosts[hosts.length - 1].shadowRoot;
    const canvases = root.querySelectorAll('canvas');
    const box = canvases[canvases.length - 1].getBoundingClientRect();
    const element = root.elementFromPoint(box.left + x, box.top + y);
    return element === null ? null : element.getAttribute('class');
}"""
TOOLBAR_STRIP = [(268, 0), (300, 10), (399, 1), (340, 26), (270, 34)]  # where the hidden toolbar lay


def test_a_stroke_started_in_the_toolbar_corner_is_drawn_and_read(browser: Browser, tmp_path: Path) -> None:
    """streamlit-drawable-canvas hid its toolbar, invisible, over the canvas's top right strip (x 268-400,
    y 0-26): a stroke started there pressed the toolbar and was lost. Now the toolbar sits above the canvas
    (and below the pen slider), with the mouse and on a touch screen, and the stroke is read."""
    with serve_app(DEFAULT_WEIGHTS, tmp_path / "streamlit.log") as url:
        for touch in (False, True):
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, has_touch=touch)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            try:
                open_draw_page(page, url)
                canvas = drawing_surface(page)
                toolbar = page.locator(".dc-toolbar").first
                box = toolbar.bounding_box()
                thumb = page.locator('[data-testid="stSlider"]').first.get_by_role("slider").bounding_box()
                assert box is not None and thumb is not None
                assert thumb["y"] + thumb["height"] <= box["y"] and box["y"] + box["height"] <= canvas["y"]
                drawn_on = [page.evaluate(ELEMENT_AT_JS, list(p)) for p in TOOLBAR_STRIP]
                assert drawn_on == ["dc-canvas upper-canvas"] * len(TOOLBAR_STRIP)
                if touch:  # no hover to show it: the toolbar is always shown
                    assert toolbar.evaluate("e => getComputedStyle(e).opacity") == "1"
                    continue
                page.mouse.move(0, 0)  # the stroke starts as the pointer arrives, before any hover effect
                draw(page, [[(300, 10), (310, 40), (310, 120), (310, 200)]])
                expect(page.locator(".dd-number")).to_have_text("1")
                screenshot(page, "09-toolbar-corner")
            finally:
                context.close()

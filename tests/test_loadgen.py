"""The load generator (``digit_detector.loadgen``): what it sends is what the canvas sends, it refuses any
server but this machine's, it recognises whose drawing a result shows, and -- against the real app served
with random weights -- a few users for a few seconds get their own results, and a server with a tiny
inference queue answers "busy" quickly instead of freezing (integration)."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector import loadgen
from digit_detector.detector import DetectionResult
from digit_detector.loadgen import LoadConfig, canvas_state, drawing_bank, matches_own_drawing, run_load
from digit_detector.ui import draw_page


@pytest.mark.parametrize("url", ["http://127.0.0.1:8501", "http://localhost:8501/", "http://[::1]:80/app"])
def test_loopback_urls_are_loaded(url: str) -> None:
    host, port = loadgen.loopback_address(url)
    assert port in (8501, 80) and host in ("127.0.0.1", "::1")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8501",
        "http://example.com:8501",
        "http://192.168.1.2:8501",
        "https://127.0.0.1:8501",
        "ws://127.0.0.1:8501",
        "http://127.0.0.1",  # no port
        "http://localhost.example.com:8501",
    ],
)
def test_anything_but_loopback_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        loadgen.loopback_address(url)
    with pytest.raises(ValueError):
        LoadConfig(url=url)


def test_runs_are_bounded() -> None:
    url = "http://127.0.0.1:8501"
    for bad in ({"users": 0}, {"users": loadgen.MAX_USERS + 1}, {"duration_s": 0}, {"duration_s": 1e6}):
        with pytest.raises(ValueError):
            LoadConfig(url=url, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LoadConfig(url=url, max_strokes=loadgen.MAX_STROKES + 1)


def test_a_stroke_is_sent_as_the_canvas_sends_it() -> None:
    """The widget value is the component's ``{"drawing": {"raw": fabric JSON, "data": PNG data URL}}``, and
    read as streamlit-drawable-canvas's ``CanvasResult.image_data`` reads it (the package cannot be imported
    outside a Streamlit runtime), it is the pixels drawn."""
    strokes = [loadgen.random_stroke(random.Random(1), (200, 200)) for _ in range(2)]
    state = canvas_state(7, strokes)
    value = json.loads(state.value_json)
    drawing = value["drawing"]
    assert [obj["type"] for obj in drawing["raw"]["objects"]] == ["Path", "Path"]
    assert drawing["raw"]["objects"][0]["path"][0][0] == "M"
    _, encoded = drawing["data"].split(";base64,", 1)  # CanvasResult.image_data, line by line
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))
    assert drawing["data"].startswith("data:image/png;base64,") and pixels.shape == (400, 400, 4)
    assert np.array_equal(pixels, loadgen.render_strokes(strokes))
    assert draw_page.has_ink(pixels) and state.strokes == 2 and state.drawing == 7


def test_successive_canvas_values_add_a_stroke_each() -> None:
    bank = drawing_bank(3, 4, seed=2)
    assert len(bank) == 3 and all(len(states) == 4 for states in bank)
    first, last = bank[0][0], bank[0][-1]
    assert last.ink.sum() > first.ink.sum() and (first.ink & ~last.ink).sum() == 0


def _shown(pixels: np.ndarray) -> np.ndarray:
    """The result picture the page shows for a drawing with nothing found: framed, 2x, as a JPEG."""
    result = DetectionResult(detections=[], number="", image_size=(400, 400), ms=0.0)
    encoded = draw_page.jpeg_bytes(draw_page.result_image(pixels, result))
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def test_a_result_is_recognised_as_its_own_drawing_and_not_anothers() -> None:
    bank = drawing_bank(6, 3, seed=3)
    finals = [states[-1] for states in bank]
    for states in bank:
        for state in states:
            shown = _shown(state.pixels())
            assert matches_own_drawing(shown, state, finals) is True
    mine, theirs = bank[0][-1], bank[1][-1]
    assert matches_own_drawing(_shown(theirs.pixels()), mine, finals) is False
    assert matches_own_drawing(np.full((800, 800, 3), 255, np.uint8), mine, finals) is None  # nothing shown


def test_the_server_process_is_found_by_its_port_and_measured() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert loadgen.listening_pid(port) == os.getpid()
    assert loadgen.process_cpu_s(os.getpid()) > 0
    assert 10 < loadgen.process_rss_mb(os.getpid()) < 100_000
    assert len(loadgen.load_average()) == 3


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 11))
    assert loadgen.percentile(values, 0.9) == 9
    assert loadgen.percentile(values, 1.0) == 10
    assert loadgen.percentile([5.0], 0.5) == 5.0


# --------------------------------------------------------------------------- against the served app


@pytest.mark.integration  # serves app.py in a subprocess
def test_a_few_users_get_their_own_results(random_tiny_weights: Path, tmp_path: Path) -> None:
    from digit_detector.browser import serve_app

    with serve_app(random_tiny_weights, tmp_path / "streamlit.log") as url:
        result = run_load(LoadConfig(url=url, users=3, duration_s=4.0, interval_s=0.5, timeout_s=60))
    assert result.errors == {}, result.errors
    assert result.results >= 6 and result.busy == 0
    assert result.mismatched == 0 and result.verified + result.unverifiable == result.results
    assert result.verified > 0
    assert set(result.latency_ms) == {"median", "p90", "max"}
    assert result.server_cpu_s > 0 and result.cpu_ms_per_stroke > 0
    assert result.rss_mb["start"] > 50 and result.rss_mb["max"] >= result.rss_mb["start"]
    assert len(result.server_pids) == 1 and "users every" in result.summary()


@pytest.fixture(scope="module")
def random_full_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Randomly initialised full yolov3 weights: about 100 ms a drawing on this kind of machine, so a dozen
    users drawing every 0.3 s ask for several times what one inference slot gives -- whatever the load on
    the machine (the tiny model's few milliseconds let a quiet machine keep up, and "busy" never came)."""
    import torch

    from digit_detector.models import build_model, load_model_config
    from digit_detector.weights import WeightsMetadata, save_weights

    torch.manual_seed(0)
    config = load_model_config("yolov3")
    path = tmp_path_factory.mktemp("full-weights") / "random-yolov3.safetensors"
    metadata = WeightsMetadata(model=config, score_threshold=0.5, version="random")
    return save_weights(build_model(config), metadata, path)


@pytest.mark.integration  # serves app.py in a subprocess
def test_a_full_server_says_busy_within_a_second(random_full_weights: Path, tmp_path: Path) -> None:
    """Past capacity (one slot, a 50 ms wait, one drawing waiting at most), users are told "busy" fast,
    the others still get their own results, and nothing breaks."""
    from digit_detector.browser import serve_app

    tight = {
        "DIGIT_DETECTOR_INFERENCE_SLOTS": "1",
        "DIGIT_DETECTOR_QUEUE_WAIT_S": "0.05",
        "DIGIT_DETECTOR_QUEUE_MAX": "1",
    }
    with serve_app(random_full_weights, tmp_path / "streamlit.log", env=tight) as url:
        result = run_load(LoadConfig(url=url, users=12, duration_s=5.0, interval_s=0.3, timeout_s=60))
    assert result.errors == {}, result.errors
    assert result.busy > 0 and result.results > 0
    assert result.busy_response_ms["p90"] < 1000, result.summary()
    assert result.mismatched == 0

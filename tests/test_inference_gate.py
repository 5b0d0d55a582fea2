"""The app's inference gate (``digit_detector.ui.state.InferenceGate``): a bounded number of drawings at the
model at once, a bounded wait for a slot, a bounded queue, and the Draw page's "busy" notice past it; and
the app's default backend (onnx where its export ships beside the weights)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from digit_detector.detector import BACKEND_ENV
from digit_detector.ui import state
from digit_detector.ui.state import InferenceGate, ServerBusy
from digit_detector.weights import WEIGHTS_ENV


def test_a_free_slot_is_taken_at_once_and_given_back() -> None:
    gate = InferenceGate(slots=2, wait_s=0.0, max_waiting=0)
    with gate.slot(), gate.slot(), pytest.raises(ServerBusy), gate.slot():
        pass
    with gate.slot():  # both were given back
        pass
    with pytest.raises(RuntimeError), gate.slot():
        raise RuntimeError("the model failed")
    with gate.slot(), gate.slot():  # given back on an error too
        pass
    assert gate.turned_away == 1


def test_a_waiter_gets_the_slot_when_it_comes_free() -> None:
    gate = InferenceGate(slots=1, wait_s=5.0, max_waiting=4)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.slot():
            taken.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    threading.Timer(0.1, release.set).start()
    started = time.monotonic()
    with gate.slot():
        waited = time.monotonic() - started
    holder.join()
    assert 0.05 < waited < 2.0 and gate.turned_away == 0


def test_the_wait_is_bounded_and_so_is_the_queue() -> None:
    gate = InferenceGate(slots=1, wait_s=0.2, max_waiting=1)
    release = threading.Event()
    entered = threading.Event()
    waiting = threading.Event()
    outcomes: list[str] = []

    def hold() -> None:
        with gate.slot():
            entered.set()
            release.wait(5)

    def wait_in_line() -> None:
        waiting.set()
        try:
            with gate.slot():
                outcomes.append("slot")
        except ServerBusy:
            outcomes.append("busy")

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    waiter = threading.Thread(target=wait_in_line)
    waiter.start()
    waiting.wait(5)
    deadline = time.monotonic() + 5
    while gate.waiting < 1 and time.monotonic() < deadline:  # until the waiter is in line: the queue is full
        time.sleep(0.001)
    assert gate.waiting == 1
    started = time.monotonic()
    with pytest.raises(ServerBusy, match="already wait"), gate.slot():
        pass
    assert time.monotonic() - started < 0.15  # refused at once, not after the 0.2 s wait
    waiter.join()
    assert outcomes == ["busy"]  # the waiter gave up after 0.2 s: the holder kept the slot
    release.set()
    holder.join()
    assert gate.turned_away == 2 and gate.waiting == 0


def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        InferenceGate(slots=0, wait_s=1.0, max_waiting=1)
    monkeypatch.setenv(state.INFERENCE_SLOTS_ENV, "two")
    state.inference_gate.clear()
    with pytest.raises(ValueError, match="DIGIT_DETECTOR_INFERENCE_SLOTS"):
        state.inference_gate()
    monkeypatch.setenv(state.INFERENCE_SLOTS_ENV, "3")
    monkeypatch.setenv(state.QUEUE_WAIT_ENV, "0.25")
    state.inference_gate.clear()
    gate = state.inference_gate()
    assert (gate.slots, gate.wait_s, gate.max_waiting) == (3, 0.25, state.DEFAULT_QUEUE_MAX)
    assert state.inference_gate() is gate  # one per process, shared by every session
    state.inference_gate.clear()


def _busy_script() -> None:
    """Runs in AppTest: the Draw page's result with every inference slot taken."""
    import numpy as np

    from digit_detector.ui import draw_page, state

    gate = state.inference_gate()
    assert gate._free.acquire(blocking=False)  # another user's drawing holds the only slot
    try:
        image = np.full((400, 400, 4), 255, dtype=np.uint8)
        image[80:320, 190:202] = (0, 0, 0, 255)
        detector = state.load_detector(state.weights_path(), "torch")
        draw_page.show_result(image, detector, score_threshold=0.5, iou_threshold=0.45)
    finally:
        gate._free.release()


def test_the_draw_page_says_busy_and_offers_to_try_again(
    random_tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(random_tiny_weights))
    monkeypatch.setenv(state.QUEUE_WAIT_ENV, "0.05")
    state.inference_gate.clear()
    at = AppTest.from_function(_busy_script, default_timeout=120).run()
    state.inference_gate.clear()
    assert not at.exception
    assert [warning.value for warning in at.warning] == [state_busy_message()]
    assert [button.label for button in at.button] == ["Try again"]
    assert not at.get("image")  # no result, and no other user's


def state_busy_message() -> str:
    from digit_detector.ui import draw_page

    return draw_page.BUSY_MESSAGE


def test_the_app_runs_onnx_where_the_export_ships_beside_the_weights(
    random_tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(random_tiny_weights.read_bytes())
    assert state.default_backend(str(weights)) == "torch"  # no export beside it: the library's default
    weights.with_suffix(".onnx").write_bytes(b"exported")
    assert state.default_backend(str(weights)) == "onnx"
    monkeypatch.setenv(BACKEND_ENV, "torch")
    assert state.default_backend(str(weights)) == "torch"  # the environment decides when it is set

"""The "Improve the model" page: canvas <-> box helpers, the consent gate, and the page run by AppTest."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digit_detector import feedback
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detection, DetectionResult
from digit_detector.feedback import FeedbackError, FeedbackSample, Prediction
from digit_detector.ui import improve_page
from digit_detector.ui.improve_page import (
    CONSENT_TEXT,
    DRAWING_KEY,
    UNAVAILABLE_TEXT,
    EditedBox,
    boxes_from_canvas_json,
    build_sample,
    colour_hex,
    drawing_from_boxes,
    initial_drawing_from_detections,
    submit_feedback,
)

DETECTIONS = [
    Detection("7", 7, 0.91, (40.0, 50.0, 100.0, 150.0)),
    Detection("4", 4, 0.55, (218.0, 198.0, 301.0, 333.0)),
]


def drawing_rgba() -> np.ndarray:
    """What the Draw page's canvas returns: RGBA, transparent paper, black ink."""
    image = np.zeros((400, 400, 4), dtype=np.uint8)
    image[50:150, 40:100] = (0, 0, 0, 255)
    image[200:330, 220:300] = (0, 0, 0, 255)
    return image


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_initial_drawing_round_trip(scale: float) -> None:
    drawing = initial_drawing_from_detections(DETECTIONS, scale)
    first = drawing["objects"][0]
    assert first["type"] == "LabeledRect" and first["label"] == "7" and first["stroke"] == colour_hex(7)
    assert (first["left"], first["top"], first["width"], first["height"]) == (
        40 * scale,
        50 * scale,
        60 * scale,
        100 * scale,
    )
    boxes = boxes_from_canvas_json(drawing, (400, 400), scale)
    assert [(b.label, b.class_id) for b in boxes] == [("7", 7), ("4", 4)]
    np.testing.assert_allclose([b.box for b in boxes], [d.box for d in DETECTIONS])


def test_boxes_from_edited_canvas() -> None:
    json_data = {
        "objects": [
            # moved and resized in the editor: scale and centre origin
            {"type": "LabeledRect", "label": "3", "left": 100, "top": 100, "width": 20, "height": 10,
             "scaleX": 2, "scaleY": 3, "originX": "center", "originY": "center"},
            # a plain rectangle: its class comes from its stroke colour
            {"type": "rect", "left": 10, "top": 10, "width": 30, "height": 30, "stroke": "rgb(128, 0, 0)"},
            # relabelled on the canvas to something that is not a class
            {"type": "LabeledRect", "label": "banana", "left": 300, "top": 300, "width": 50, "height": 50},
            # partly outside: clipped
            {"type": "LabeledRect", "label": "Other", "left": 380, "top": -10, "width": 40, "height": 30},
            {"type": "LabeledRect", "label": "1", "left": 5, "top": 5, "width": 1, "height": 40},  # a speck
            {"type": "path", "path": []},  # not a box
        ]
    }  # fmt: skip
    boxes = boxes_from_canvas_json(json_data, (400, 400))
    assert boxes == [
        EditedBox("3", 3, (80.0, 85.0, 120.0, 115.0)),
        EditedBox("other", 11, (10.0, 10.0, 40.0, 40.0)),
        EditedBox("banana", None, (300.0, 300.0, 350.0, 350.0)),
        EditedBox("Other", 11, (380.0, 0.0, 400.0, 20.0)),
    ]
    assert boxes_from_canvas_json(None, (400, 400)) == []
    assert boxes_from_canvas_json({"objects": []}, (400, 400)) == []


def test_drawing_from_boxes_keeps_labels() -> None:
    boxes = [EditedBox("censored", 10, (1, 2, 30, 40)), EditedBox("x", None, (5, 5, 50, 50))]
    assert boxes_from_canvas_json(drawing_from_boxes(boxes), (400, 400)) == [
        EditedBox("censored", 10, (1, 2, 30, 40)),
        EditedBox("x", None, (5, 5, 50, 50)),
    ]


def test_build_sample() -> None:
    image = np.full((400, 400, 3), 255, np.uint8)
    predictions = [Prediction.from_detection(d) for d in DETECTIONS]
    boxes = [EditedBox("7", 7, DETECTIONS[0].box), EditedBox("9", 9, DETECTIONS[1].box)]
    sample = build_sample(image, boxes, predictions, "v1", "  ")
    assert sample.class_ids.tolist() == [7, 9] and sample.note is None and sample.model_version == "v1"
    assert sample.predictions[1].class_id == 4
    with pytest.raises(ValueError, match="box 2"):
        build_sample(image, [boxes[0], EditedBox("banana", None, (1, 1, 9, 9))], predictions, "v1")
    assert len(build_sample(image, [], predictions, "v1").class_ids) == 0  # "nothing here" is a label too


class RecordingStore:
    def __init__(self, error: Exception | None = None) -> None:
        self.saved: list[FeedbackSample] = []
        self.error = error

    def save(self, sample: FeedbackSample) -> str:
        if self.error is not None:
            raise self.error
        self.saved.append(sample)
        return "sample-1"


def test_consent_gate() -> None:
    calls: list[str] = []

    def make_sample() -> FeedbackSample:
        calls.append("sample")
        return build_sample(np.full((8, 8, 3), 255, np.uint8), [], [], "v1")

    store = RecordingStore()

    def make_store() -> RecordingStore:
        calls.append("store")
        return store

    for refused in (False, None, "yes", 1):
        outcome = submit_feedback(refused, make_sample, make_store)  # type: ignore[arg-type]
        assert not outcome.stored and CONSENT_TEXT in outcome.message and outcome.sample_id is None
    assert calls == [] and store.saved == []  # without consent nothing is even built

    outcome = submit_feedback(True, make_sample, make_store)
    assert outcome.stored and outcome.sample_id == "sample-1" and "sample-1" in outcome.message
    assert len(store.saved) == 1

    failing = RecordingStore(FeedbackError("Could not upload the drawing to s3://b/p (boom)."))
    outcome = submit_feedback(True, make_sample, lambda: failing)
    assert not outcome.stored and UNAVAILABLE_TEXT in outcome.message and "still here" in outcome.message
    assert "s3://" not in outcome.message and "boom" not in outcome.message

    def bad_sample() -> FeedbackSample:
        raise ValueError("Choose a class for box 2 first.")

    outcome = submit_feedback(True, bad_sample, make_store)
    assert not outcome.stored and "box 2" in outcome.message and len(store.saved) == 1


# --------------------------------------------------------------------------- the page (AppTest)


class FakeDetector:
    metadata = SimpleNamespace(version="fake-1")

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: Any) -> DetectionResult:
        self.calls += 1
        return DetectionResult(list(DETECTIONS), "74", (400, 400), 1.0)


def page_script() -> None:
    from digit_detector.ui import improve_page

    improve_page.render()


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DIGIT_DETECTOR_S3_BUCKET", "DIGIT_DETECTOR_FEEDBACK_DURABLE", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIGIT_DETECTOR_FEEDBACK_DIR", str(tmp_path / "feedback"))
    return tmp_path / "feedback"


@pytest.fixture
def detector(monkeypatch: pytest.MonkeyPatch) -> FakeDetector:
    fake = FakeDetector()
    monkeypatch.setattr(improve_page, "get_detector", lambda: (fake, None))
    return fake


def run_page(drawing: np.ndarray | None) -> AppTest:
    app = AppTest.from_function(page_script, default_timeout=30)
    if drawing is not None:
        app.session_state[DRAWING_KEY] = drawing
    app.run()
    assert not app.exception, app.exception
    return app


def box_selectboxes(app: AppTest) -> list[Any]:
    return [s for s in app.selectbox if s.key and s.key.startswith("improve_label_")]


def consent_box(app: AppTest) -> Any:
    (box,) = [c for c in app.checkbox if c.label == CONSENT_TEXT]
    return box


def test_page_stores_nothing_without_consent(store_dir: Path, detector: FakeDetector) -> None:
    app = run_page(drawing_rgba())
    assert [s.value for s in box_selectboxes(app)] == ["7", "4"]  # the model's boxes, pre-filled
    assert not app.error  # no secrets file is fine: the local store is used

    app.button(key="improve_send").click().run()
    assert not app.exception
    assert any(CONSENT_TEXT in w.value for w in app.warning)
    assert not app.success
    assert not any("restarts" in w.value for w in app.warning)  # off a Space the folder is lasting
    assert not store_dir.exists()  # nothing written, not even a folder

    consent_box(app).check().run()
    assert not store_dir.exists()  # ticking alone stores nothing either
    consent_box(app).uncheck().run()
    app.button(key="improve_send").click().run()
    assert not store_dir.exists()
    assert detector.calls == 1  # one detection per drawing, not per rerun


def test_page_sends_corrected_boxes_with_consent(store_dir: Path, detector: FakeDetector) -> None:
    app = run_page(drawing_rgba())
    box_selectboxes(app)[1].select("9").run()  # the model said 4; it is a 9
    assert [s.value for s in box_selectboxes(app)] == ["7", "9"]
    app.text_input(key="improve_note").input("my nine").run()
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()
    assert not app.exception and not app.error
    (success,) = app.success
    contents = load_split(store_dir, "train")
    assert len(contents.samples) == 1 and not contents.problems
    (sample,) = contents.samples
    assert sample.image_path.stem in success.value
    assert sample.class_ids.tolist() == [7, 9]
    np.testing.assert_allclose(sample.boxes_xyxy, [d.box for d in DETECTIONS], atol=0.01)
    record = (store_dir / "feedback.jsonl").read_text()
    assert '"model_version": "fake-1"' in record and '"note": "my nine"' in record

    assert consent_box(app).value is False  # the consent was for that drawing: ticked anew to send again
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()  # the same thing again is not stored twice
    assert len(load_split(store_dir, "train").samples) == 1
    assert any("Already sent" in i.value for i in app.info)


def test_consent_is_reset_after_sharing_and_for_a_new_drawing(
    store_dir: Path, detector: FakeDetector
) -> None:
    app = run_page(drawing_rgba())
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()
    assert not app.exception
    assert len(app.success) == 1 and "Thank you" in app.success[0].value
    assert consent_box(app).value is False
    app.button(key="improve_send").click().run()  # without a new tick nothing more is stored
    assert any(CONSENT_TEXT in w.value for w in app.warning)
    assert len(load_split(store_dir, "train").samples) == 1

    consent_box(app).check().run()
    assert consent_box(app).value is True
    other = drawing_rgba()
    other[300:310, 300:380, 3] = 255  # another stroke: another drawing
    app.session_state[DRAWING_KEY] = other
    app.run()
    assert not app.exception and detector.calls == 2
    assert consent_box(app).value is False  # a tick for the last drawing is not one for this
    app.button(key="improve_send").click().run()
    assert len(load_split(store_dir, "train").samples) == 1


def test_page_delete_and_reset(store_dir: Path, detector: FakeDetector) -> None:
    app = run_page(drawing_rgba())
    delete = [b for b in app.button if b.key and b.key.startswith("improve_delete_")]
    delete[0].click().run()
    assert [s.value for s in box_selectboxes(app)] == ["4"]
    app.button(key="improve_reset").click().run()
    assert [s.value for s in box_selectboxes(app)] == ["7", "4"]


def test_page_store_error_is_shown(
    store_dir: Path, detector: FakeDetector, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordingStore(FeedbackError("Could not save the drawing to X (PermissionError: no)."))
    monkeypatch.setattr(improve_page, "feedback_store", lambda: store)
    app = run_page(drawing_rgba())
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()
    (error,) = app.error
    assert UNAVAILABLE_TEXT in error.value and "still here" in error.value
    assert "PermissionError" not in error.value  # the details are for the server log
    assert "Could not save the drawing to X (PermissionError: no)" in caplog.text
    assert [s.value for s in box_selectboxes(app)] == ["7", "4"]  # the boxes are still there to retry


def test_unexpected_store_failure_is_logged_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    def make_sample() -> FeedbackSample:
        return build_sample(np.full((8, 8, 3), 255, np.uint8), [], [], "v1")

    failing = RecordingStore(RuntimeError("no route to https://user:secret@s3.example.com/b"))
    outcome = submit_feedback(True, make_sample, lambda: failing)
    assert not outcome.stored and outcome.message.startswith("Sharing is not available right now.")
    assert "secret" not in outcome.message and "example" not in outcome.message
    assert "https://***@s3.example.com/b" in caplog.text and "secret" not in caplog.text
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text


def page_text(app: AppTest) -> str:
    """Every piece of text the page shows (messages, markdown, captions, labels, exceptions)."""
    parts: list[str] = []
    for kind in ("error", "warning", "info", "success", "exception", "markdown", "caption", "title"):
        parts += [str(element.value) for element in getattr(app, kind)]
    for kind in ("button", "checkbox", "selectbox", "text_input", "radio"):
        parts += [str(element.label) for element in getattr(app, kind)]
    return "\n".join(parts)


@pytest.mark.parametrize("configured_in", ["environment", "secrets"])
def test_page_never_shows_the_store_endpoint_or_credentials(
    store_dir: Path,
    detector: FakeDetector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    configured_in: str,
) -> None:
    """A failing S3 store whose endpoint URL carries ``user:secret@``: the page says only that sharing is
    unavailable; the log has the details with the URL's credentials redacted."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://user:secret@127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIexample",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    app = AppTest.from_function(page_script, default_timeout=60)
    if configured_in == "environment":
        monkeypatch.setenv("DIGIT_DETECTOR_S3_BUCKET", "private-bucket-name")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        app.secrets["feedback"] = {"bucket": "private-bucket-name", "endpoint_url": endpoint}
    app.session_state[DRAWING_KEY] = drawing_rgba()
    app.run()
    assert not app.warning  # a bucket is durable: no "only until the Space restarts" notice
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()
    assert not app.exception and not app.success
    (error,) = app.error
    assert UNAVAILABLE_TEXT in error.value
    text = page_text(app)
    hidden = ("secret", "user:", "127.0.0.1", str(port), "private-bucket-name", "s3://", "AKID", "wJalr")
    for word in hidden:
        assert word not in text, word
    assert f"http://***@127.0.0.1:{port}/private-bucket-name" in caplog.text  # where it went, for the log
    assert "secret" not in caplog.text and "wJalr" not in caplog.text
    assert not store_dir.exists()


def test_page_on_a_space_without_lasting_storage(
    store_dir: Path, detector: FakeDetector, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only the Space's own disk: the page says before and after sharing that the drawing stays only until
    the Space restarts, and never that it was saved for good."""
    monkeypatch.setenv("SPACE_ID", "someone/digit-detector")
    monkeypatch.setattr(feedback, "SPACE_PERSISTENT_DIR", tmp_path / "no-persistent-storage")
    app = run_page(drawing_rgba())
    (notice,) = app.warning
    assert "only until the Space restarts" in notice.value
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()
    assert not app.error
    (success,) = app.success
    assert "only until this Space restarts" in success.value and "Stored" not in success.value
    (sample,) = load_split(store_dir, "train").samples  # it is there, for as long as the Space runs
    assert sample.image_path.stem in success.value


def test_page_on_a_space_with_persistent_storage(
    detector: FakeDetector, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The store in the Space's persistent storage (``/data``) or declared durable: no notice, "Stored"."""
    for name in ("DIGIT_DETECTOR_S3_BUCKET", "DIGIT_DETECTOR_FEEDBACK_DURABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/digit-detector")
    monkeypatch.setattr(feedback, "SPACE_PERSISTENT_DIR", tmp_path / "data")
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("DIGIT_DETECTOR_FEEDBACK_DIR", str(tmp_path / "data" / "feedback"))
    app = run_page(drawing_rgba())
    assert not app.warning
    consent_box(app).check().run()
    app.button(key="improve_send").click().run()
    (success,) = app.success
    assert success.value.startswith("Thank you! Stored as sample")
    assert len(load_split(tmp_path / "data" / "feedback", "train").samples) == 1


def test_page_without_drawing_or_model(
    store_dir: Path, detector: FakeDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page(None)
    assert any("Draw something" in i.value for i in app.info)
    assert not box_selectboxes(app) and detector.calls == 0

    monkeypatch.setattr(improve_page, "get_detector", lambda: (None, "No weights file at w.safetensors."))
    app = run_page(drawing_rgba())
    assert [e.value for e in app.error] == ["No weights file at w.safetensors."]
    assert not box_selectboxes(app)


def test_get_detector_uses_the_app_weights(
    random_tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGIT_DETECTOR_WEIGHTS", str(random_tiny_weights))
    detector, problem = improve_page.get_detector()
    assert problem is None and detector is not None and detector.metadata.version == "random"
    monkeypatch.setenv("DIGIT_DETECTOR_WEIGHTS", str(random_tiny_weights.with_name("missing.safetensors")))
    detector, problem = improve_page.get_detector()
    assert detector is None and problem is not None and "missing.safetensors" in problem

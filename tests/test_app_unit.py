"""Unit tests of the Streamlit UI (``app.py`` and ``digit_detector.ui``) without a browser.

Pages run in ``streamlit.testing.v1.AppTest``; the pure helpers (ink check, result picture, tables) are
called directly. One test runs the app in a subprocess that refuses to import anything outside
``requirements.txt`` (what Hugging Face Spaces installs).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from packaging.utils import canonicalize_name
from PIL import Image
from streamlit.testing.v1 import AppTest

from digit_detector import __version__
from digit_detector.classes import CENSORED_ID, CLASS_NAMES
from digit_detector.detector import Detection, DetectionResult
from digit_detector.models import build_model, load_model_config
from digit_detector.render import class_colour, pixelate
from digit_detector.ui import draw_page, state
from digit_detector.weights import WEIGHTS_ENV, WeightsMetadata, save_weights
from requirement_files import dependency_closure, requirements
from test_evaluation import LAYOUT_READINGS

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def not_deployed_modules() -> tuple[str, ...]:
    """Top-level modules of requirements-dev.txt's packages that a Space (requirements.txt) lacks."""
    deployed = dependency_closure(set(requirements(ROOT / "requirements.txt")))
    dev_only = set(requirements(ROOT / "requirements-dev.txt")) - deployed
    modules = {
        module
        for module, distributions in metadata.packages_distributions().items()
        if all(canonicalize_name(d) in dev_only for d in distributions)
    }
    return tuple(sorted(modules | {"imgaug"}))  # imgaug: never a dependency (see docs/architecture.md)


def canvas(strokes: bool = True, background: tuple[int, int, int, int] = (0, 0, 0, 0)) -> np.ndarray:
    """A 400x400 RGBA canvas as the drawable canvas returns it, with a black '1' when ``strokes``."""
    image = np.zeros((400, 400, 4), dtype=np.uint8)
    image[:] = background
    if strokes:
        image[80:320, 190:202] = (0, 0, 0, 255)
    return image


def result_with(*detections: Detection) -> DetectionResult:
    return DetectionResult(detections=list(detections), number="", image_size=(400, 400), ms=1.0)


@pytest.fixture
def weights_with_report(tmp_path: Path) -> Path:
    """Random tiny weights whose metadata holds a test report and a 0.37 threshold, with eval plots."""
    torch.manual_seed(0)
    config = load_model_config("yolov3-tiny")
    report = {
        "images": 2000,
        "targets": {
            "mAP@0.5": {"value": 0.981, "goal": ">= 0.97", "pass": True},
            "numbers read exactly": {"value": 0.9, "goal": ">= 0.95", "pass": False},
        },
        "map": {"per_class_nms": {"map50": 0.981, "map50_95": 0.801}},
        "per_class": {name: {"gt": 10, "ap50": 0.9, "ap50_95": 0.7} for name in CLASS_NAMES},
        "single_digit": {"images": 700, "correct": 695, "top1": 0.9929},
        "numbers": {"images": 300, "exact": 270, "accuracy": 0.9},
        "blank": {"images": 80, "with_detection": 0},
        "other": {"boxes": 100, "taken_for_digit": 2, "rate": 0.02},
        "readings_by_layout": LAYOUT_READINGS,
    }
    metadata = WeightsMetadata(
        model=config,
        score_threshold=0.37,
        version="test-report",
        metrics={"val_map_per_class_nms": 0.97, "test": report},
        training={"command": "python -m digit_detector train experiment=cpu_tiny"},
    )
    path = save_weights(build_model(config), metadata, tmp_path / "reported.safetensors")
    (tmp_path / "eval").mkdir()
    for name in ("confusion_matrix.png", "pr_curves.png"):
        Image.new("RGB", (64, 48), "white").save(tmp_path / "eval" / name)
    return path


# --------------------------------------------------------------------------- helpers


def test_has_ink() -> None:
    assert not draw_page.has_ink(None)
    assert not draw_page.has_ink(canvas(strokes=False))  # transparent
    assert not draw_page.has_ink(canvas(strokes=False, background=(255, 255, 255, 255)))  # white paper
    assert draw_page.has_ink(canvas())
    assert draw_page.has_ink(canvas(background=(255, 255, 255, 255)))
    faint = canvas(strokes=False)
    faint[10, 10] = (0, 0, 0, 3)  # an anti-aliased edge pixel counts
    assert draw_page.has_ink(faint)
    assert not draw_page.has_ink(np.full((8, 8, 3), 255, dtype=np.uint8))
    assert draw_page.has_ink(np.zeros((8, 8, 3), dtype=np.uint8))


def test_result_image_pixelates_censored_and_keeps_its_label() -> None:
    image = canvas(strokes=False, background=(255, 255, 255, 255))
    rows, cols = np.indices((120, 120))
    image[100:220, 100:220, :3] = np.where(((rows // 2 + cols // 2) % 2 == 0)[..., None], 0, 255)
    censored = Detection("censored", CENSORED_ID, 0.9, (100.0, 100.0, 220.0, 220.0))
    one = Detection("1", 1, 0.8, (300.0, 40.0, 340.0, 120.0))
    picture = np.asarray(draw_page.result_image(image, result_with(censored, one), scale=1))
    expected = np.asarray(pixelate(Image.fromarray(image[..., :3]), [censored.box]))  # opaque paper
    inner = (slice(130, 215), slice(105, 215))  # below the label tag, inside the outline
    assert np.array_equal(picture[inner], expected[inner])
    assert not np.array_equal(picture[inner], image[inner][..., :3])  # the fine pattern is gone
    changes = np.mean(np.any(picture[inner][:, 1:] != picture[inner][:, :-1], axis=-1))
    assert changes < 0.1  # flat blocks, where the 2-px checkerboard changed every other pixel
    for detection in (censored, one):  # outlines (and the label tags) in the class colours
        colour = class_colour(detection.class_id)
        assert np.any(np.all(picture == colour, axis=-1)), detection.label


def test_result_image_is_drawn_at_twice_the_canvas_size() -> None:
    one = Detection("1", 1, 0.8, (190.0, 80.0, 202.0, 320.0))
    picture = draw_page.result_image(canvas(), result_with(one))
    assert picture.size == (400 * draw_page.RESULT_SCALE, 400 * draw_page.RESULT_SCALE)
    assert picture.getpixel((196 * draw_page.RESULT_SCALE, 200 * draw_page.RESULT_SCALE)) == (0, 0, 0)


def test_the_downloads_are_the_results_picture_and_json_record() -> None:
    image = canvas()
    result = result_with(Detection("1", 1, 0.8, (190.0, 80.0, 202.0, 320.0)))
    assert json.loads(draw_page.detections_json(result)) == result.to_json(draw_page.DOWNLOAD_NAME)
    shown = np.asarray(draw_page.result_image(image, result, scale=1))
    plotted = np.asarray(result.plot(image))  # what the PNG download holds, and predict --save writes
    assert np.array_equal(shown[1:-1, 1:-1], plotted[1:-1, 1:-1])  # all but the frame
    download = Image.open(io.BytesIO(draw_page.download_png(image, result)))
    assert download.format == "PNG" and np.array_equal(np.asarray(download), plotted)
    shown_jpeg = Image.open(io.BytesIO(draw_page.jpeg_bytes(draw_page.result_image(image, result))))
    assert shown_jpeg.format == "JPEG" and shown_jpeg.size == (800, 800)  # what st.image sends unchanged


def test_detection_table_and_number() -> None:
    many = [Detection("7", 7, 0.9 - i / 100, (1.0, 2.0, 30.4, 40.6)) for i in range(20)]
    rows = draw_page.detection_rows(result_with(*many))
    assert len(rows) == draw_page.MAX_TABLE_ROWS
    assert rows[0] == {"label": "7", "score": "0.90", "box": "1, 2, 30, 41"}
    table = draw_page.detections_html(result_with(*many))
    assert table.count("<tr>") == draw_page.MAX_TABLE_ROWS + 1
    assert "rgb(128,128,0)" in table  # the class colour of '7'
    assert ">42<" in draw_page.number_html("42")
    assert "12<br>3" in draw_page.number_html("12\n3")
    assert "—" in draw_page.number_html("")
    # the strokes the read drawing holds, for the browser tests and the probe to wait on
    assert 'data-strokes="3"' in draw_page.number_html("42", 3)
    assert 'data-strokes="0"' in draw_page.number_html("")
    assert draw_page.stroke_count({"objects": [{"type": "path"}, {"type": "path"}]}) == 2
    assert draw_page.stroke_count(None) == draw_page.stroke_count({"objects": None}) == 0


def test_the_caption_says_when_the_box_shown_is_a_best_guess() -> None:
    plain = draw_page.found_caption(2, 31.4, "torch", "objectness", 0.45, None)
    assert plain == "Model time **31 ms** (torch) · 2 objects at objectness ≥ 0.45"
    guess = draw_page.found_caption(1, 30.0, "onnxruntime", "objectness", 0.45, 0.37)
    assert "nothing at objectness ≥ 0.45" in guess and "best guess, objectness 0.37" in guess
    assert draw_page.number_size_rem("42") > draw_page.number_size_rem("1" * 20)


# --------------------------------------------------------------------------- detector loading


def test_detector_is_loaded_once_per_weights_and_backend(
    random_tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.load_detector.clear()
    calls: list[tuple[str, str]] = []
    original = state.Detector.from_weights

    def counting(path: Any, **kwargs: Any) -> Any:
        calls.append((str(path), kwargs["backend"]))
        return original(path, **kwargs)

    monkeypatch.setattr(state.Detector, "from_weights", counting)
    first = state.load_detector(str(random_tiny_weights), "torch")
    assert state.load_detector(str(random_tiny_weights), "torch") is first
    assert calls == [(str(random_tiny_weights), "torch")]
    assert torch.get_num_threads() == state.INFERENCE_THREADS
    state.load_detector.clear()


def test_missing_weights_and_onnx_export_problems_are_sentences(
    random_tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector, problem = state.try_load_detector(str(tmp_path / "none.safetensors"))
    assert detector is None and problem is not None and "No weights file" in problem
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(random_tiny_weights.read_bytes())
    copy.with_suffix(".json").write_text(random_tiny_weights.with_suffix(".json").read_text())
    monkeypatch.setitem(sys.modules, "digit_detector.export", None)  # as on Spaces: no onnx package
    detector, problem = state.try_load_detector(str(copy), "onnx")
    assert detector is None and problem is not None
    assert "copy.onnx" in problem and "export --format onnx" in problem


# --------------------------------------------------------------------------- pages in AppTest


def test_app_starts_on_draw_page_with_prompt_and_metadata_threshold(
    weights_with_report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_with_report))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value.endswith("Handwritten digit detector")
    assert any(draw_page.EMPTY_PROMPT in info.value for info in at.info)
    sliders = {slider.label: slider.value for slider in at.slider}
    assert sliders["Pen width"] == draw_page.DEFAULT_PEN_WIDTH
    assert sliders["Score threshold"] == pytest.approx(0.37)  # from the weights' metadata
    assert sliders["NMS IoU threshold"] == pytest.approx(0.45)
    assert at.radio[0].options == ["torch", "onnxruntime"]
    assert not at.error and not at.get("image")  # nothing detected, nothing shown back


def test_app_without_weights_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing.safetensors"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert "No weights file" in at.error[0].value


def _show_drawing_script() -> None:
    """Runs in AppTest: ``show_result`` on a drawn '1' with the detector of $DIGIT_DETECTOR_WEIGHTS."""
    import numpy as np

    from digit_detector.ui import draw_page, state

    image = np.zeros((400, 400, 4), dtype=np.uint8)
    image[80:320, 190:202] = (0, 0, 0, 255)
    detector = state.load_detector(state.weights_path(), "torch")
    draw_page.show_result(image, detector, score_threshold=0.0, iou_threshold=0.45)


def test_show_result_shows_image_time_and_table(
    random_tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(random_tiny_weights))
    at = AppTest.from_function(_show_drawing_script, default_timeout=120).run()
    assert not at.exception
    captions = [caption.value for caption in at.caption]
    assert any(text.startswith("Model time **") and "at score ≥ 0.00" in text for text in captions)
    assert len(at.get("image")) == 1
    assert any("dd-detections" in markdown.value for markdown in at.markdown)  # random weights find plenty
    downloads = {button.proto.label: button.proto for button in at.get("download_button")}
    assert set(downloads) == {"Download picture (PNG)", "Download detections (JSON)"}
    picture = downloads["Download picture (PNG)"]  # drawn and encoded when clicked, not on every stroke
    assert picture.deferred_file_id and not picture.url
    assert downloads["Download detections (JSON)"].url.endswith(".json")
    assert all(button.ignore_rerun for button in downloads.values())  # a download does not rerun the model


def test_empty_canvas_does_not_call_the_model() -> None:
    class Exploding:
        score_threshold = 0.5

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the model ran on an empty canvas")

    for blank in (None, canvas(strokes=False), canvas(strokes=False, background=(255, 255, 255, 255))):
        shown = draw_page.show_result(blank, Exploding(), score_threshold=0.5, iou_threshold=0.45)  # type: ignore[arg-type]
        assert shown is None


def _about_script() -> None:
    from digit_detector.ui import about_page

    about_page.render()


def test_about_page_shows_pipeline_classes_metrics_plots_and_history(
    weights_with_report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_with_report))
    at = AppTest.from_function(_about_script, default_timeout=120).run()
    assert not at.exception
    assert len(at.get("graphviz_chart")) == 1
    text = " ".join(str(element.value) for element in [*at.markdown, *at.code, *at.subheader])
    for expected in (
        "2017",
        "2019",
        "Flask",
        "YOLOv3",
        "python -m digit_detector train",
        "test-report",
        __version__,
    ):
        assert expected in text, expected
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["mAP@0.5"] == "98.1 %"
    assert metrics["blank canvases with a box"] == "0 of 80"
    assert len(at.get("image")) == 2  # the eval plots beside the weights
    assert len(at.table) >= 4  # classes, ship targets, readings by layout, per-class AP
    assert "Readings by canvas layout" in text


def test_about_page_with_untrained_weights(
    random_tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(random_tiny_weights))
    at = AppTest.from_function(_about_script, default_timeout=120).run()
    assert not at.exception
    assert any("no test evaluation" in info.value for info in at.info)


# --------------------------------------------------------------------------- deployment (Spaces)


@pytest.mark.integration  # runs the app in a subprocess
def test_app_needs_only_the_deployed_requirements(random_tiny_weights: Path, tmp_path: Path) -> None:
    """Run every page as on Hugging Face Spaces: dev-only packages unimportable, this package uninstalled."""
    blocked = not_deployed_modules()
    assert {"albumentations", "lightning", "hydra", "matplotlib", "onnx", "torchmetrics"} <= set(blocked)
    script = tmp_path / "spaces_check.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import importlib.abc, importlib.machinery, importlib.util, json, sys

            BLOCKED = {blocked!r}


            class Refuse(importlib.abc.Loader):
                def create_module(self, spec):
                    raise ImportError(f"{{spec.name}} is not in requirements.txt", name=spec.name)

                def exec_module(self, module):
                    raise AssertionError("unreachable")


            class Block(importlib.abc.MetaPathFinder):
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] in BLOCKED:
                        return importlib.machinery.ModuleSpec(name, Refuse())
                    return None


            sys.meta_path.insert(0, Block())
            # Spaces does not install this package: only app.py's own sys.path entry may find it.
            sys.path = [p for p in sys.path if p.rstrip("/") != {str(ROOT / "src")!r}]
            assert importlib.util.find_spec("digit_detector") is None
            from streamlit.testing.v1 import AppTest


            def about():
                from digit_detector.ui import about_page

                about_page.render()


            results = {{}}
            at = AppTest.from_file({APP!r}, default_timeout=120).run()
            results["app"] = [str(e.value) for e in at.exception]
            at = AppTest.from_function(about, default_timeout=120).run()
            results["about"] = [str(e.value) for e in at.exception]
            for module in (
                "digit_detector.ui.draw_page",
                "digit_detector.ui.style_page",
                "digit_detector.ui.improve_page",
            ):
                importlib.import_module(module)
            results["loaded"] = sorted(
                name for name, module in sys.modules.items()
                if name.split(".")[0] in BLOCKED and module is not None
            )
            print(json.dumps(results))
            """
        )
    )
    env = {WEIGHTS_ENV: str(random_tiny_weights), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    completed = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    assert results == {"app": [], "about": [], "loaded": []}, completed.stderr[-3000:]


def test_app_entry_point_imports_only_the_ui() -> None:
    source = Path(APP).read_text()
    assert "sys.path.insert(0" in source and "st.navigation(" in source
    assert "st.set_page_config(" in source
    for name in not_deployed_modules():
        assert f"import {name}" not in source


def test_about_page_layout_rows_leave_out_layouts_with_nothing_to_read() -> None:
    from digit_detector.ui.about_page import layout_rows

    report = {"readings_by_layout": LAYOUT_READINGS}
    assert layout_rows(report) == [
        {
            "layout": "number",
            "single digits": 0,
            "top-1": "—",
            "canvases with 2+ digits": 4,
            "read exactly": "75.0 %",
        }
    ]
    assert layout_rows({}) == []  # a report of imported data has no layouts

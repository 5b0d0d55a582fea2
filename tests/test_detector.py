from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from digit_detector.boxes import yolo_to_xyxy
from digit_detector.data.coco import CATEGORY_ID_OFFSET
from digit_detector.decode import decode
from digit_detector.detector import Detection, Detector
from digit_detector.devices import PRECISION_ENV, DeviceError, resolve_device, resolve_precision
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.models import DEFAULT_ANCHORS, build_model, load_model_config
from digit_detector.models.layers import CNNBlock
from digit_detector.probe_drawings import probe_drawings
from digit_detector.render import annotate
from digit_detector.second_stage import TorchNamer, apply_log_bias
from digit_detector.torch_backend import TorchBackend
from digit_detector.weights import WeightsError, WeightsMetadata, load_weights


@pytest.fixture(scope="module")
def detector(random_tiny_weights: Path) -> Detector:
    return Detector.from_weights(random_tiny_weights, device="cpu", score_threshold=0.0)


class FixedBackend:
    """Stands in for a model: always 'sees' the given boxes (model-input pixels) with given classes."""

    def __init__(self, rows: list[tuple[list[float], int, float]]) -> None:
        self.rows = rows

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        decoded = torch.zeros(batch.shape[0], len(self.rows), 17)
        for i, (box, class_id, score) in enumerate(self.rows):
            decoded[:, i, :4] = torch.tensor(box)
            decoded[:, i, 4] = score
            decoded[:, i, 5 + class_id] = 1.0
        return decoded


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((400, 400, 4), dtype=np.uint8),
        np.full((400, 400, 3), 255, dtype=np.uint8),
        np.full((123, 457), 255, dtype=np.uint8),
        Image.new("RGBA", (31, 77)),
        Image.new("L", (640, 480), 255),
    ],
)
def test_any_input_gives_boxes_inside_the_image(detector: Detector, image: object) -> None:
    result = detector(image, score_threshold=0.01)  # type: ignore[arg-type]
    width, height = result.image_size
    expected = image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])  # type: ignore[union-attr]
    assert (width, height) == expected
    assert all(
        0 <= d.box[0] <= d.box[2] <= width and 0 <= d.box[1] <= d.box[3] <= height for d in result.detections
    )
    assert result.ms > 0 and set(result.timings_ms) == {"preprocess", "model", "postprocess"}


def test_detections_map_back_to_input_pixels_and_read_the_number() -> None:
    metadata = WeightsMetadata.from_dict(
        {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.5}
    )
    # 400x400 canvas -> 192 input: factor 0.48. Two digits side by side and one 'other' below.
    backend = FixedBackend(
        [
            ([48.0, 48.0, 72.0, 96.0], 4, 0.9),
            ([96.0, 48.0, 120.0, 96.0], 2, 0.8),
            ([48.0, 120.0, 144.0, 168.0], 11, 0.7),
            ([0.0, 0.0, 5.0, 5.0], 3, 0.2),
        ]
    )
    detector = Detector(backend, metadata)
    result = detector(np.zeros((400, 400, 4), dtype=np.uint8))
    assert [d.label for d in result.detections] == ["4", "2", "other"]
    assert result.detections[0] == Detection(
        "4", 4, pytest.approx(0.9), pytest.approx((100.0, 100.0, 150.0, 200.0)), objectness=pytest.approx(0.9)
    )
    assert result.number == "42"
    assert (
        detector(np.zeros((400, 400, 4), dtype=np.uint8), score_threshold=0.1).number == "3\n42"
    )  # the small 3 sits above the row


def test_contained_boxes_are_hidden_unless_the_call_keeps_them() -> None:
    metadata = WeightsMetadata.from_dict(
        {
            "model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS},
            "score_threshold": 0.5,
            "containment_threshold": 0.7,
        }
    )
    stem = ([60.0, 50.0, 70.0, 110.0], 1, 0.8)  # a stroke of the 4, read as a 1 of its own
    detector = Detector(FixedBackend([([48.0, 48.0, 96.0, 120.0], 4, 0.9), stem]), metadata)
    canvas = np.zeros((192, 192, 4), dtype=np.uint8)
    assert [d.label for d in detector(canvas).detections] == ["4"]
    assert [d.label for d in detector(canvas, suppress_contained=False).detections] == ["4", "1"]


def test_a_row_proposed_as_one_other_box_shows_its_digits_and_a_word_stays_whole() -> None:
    metadata = WeightsMetadata.from_dict(
        {
            "model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS},
            "score_threshold": 0.5,
            "containment_threshold": 0.5,
        }
    )
    canvas = np.zeros((192, 192, 4), dtype=np.uint8)
    places = ([48.0, 48.0, 72.0, 96.0], [74.0, 48.0, 98.0, 96.0], [100.0, 48.0, 124.0, 96.0])
    row = ([48.0, 48.0, 124.0, 96.0], 11, 0.7)  # the same three proposed once more as one `other`

    def shown(classes: tuple[int, int, int], scores: tuple[float, float, float]) -> list[str]:
        parts = [(box, c, s) for box, c, s in zip(places, classes, scores, strict=True)]
        return [d.label for d in Detector(FixedBackend([*parts, row]), metadata)(canvas).detections]

    assert shown((4, 2, 7), (0.95, 0.9, 0.8)) == ["4", "2", "7"]  # a row of digits: the digits
    assert shown((11, 11, 11), (0.95, 0.9, 0.8)) == ["other"]  # letters of a word: the word
    assert shown((4, 2, 7), (0.6, 0.55, 0.8)) == ["other"]  # one part outscores the whole: the whole


def test_reselect_shows_a_low_threshold_result_as_a_higher_threshold_call_does() -> None:
    metadata = WeightsMetadata.from_dict(
        {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.5}
    )
    rows = [
        ([48.0, 48.0, 96.0, 120.0], 4, 0.9),
        ([60.0, 50.0, 70.0, 110.0], 1, 0.8),  # inside the 4
        ([120.0, 48.0, 150.0, 120.0], 7, 0.3),  # below 0.5
    ]
    detector = Detector(FixedBackend(rows), metadata)
    canvas = np.zeros((192, 192, 4), dtype=np.uint8)
    low = detector(canvas, score_threshold=0.1, suppress_contained=False)
    assert low.number == "147"  # the stem's centre lies left of the 4's
    shown = detector.reselect(low, 0.5)
    assert [d.label for d in shown.detections] == ["4", "1"] and shown.number == "14"
    contained = detector.reselect(low, 0.5, containment_threshold=0.7)
    assert [d.label for d in contained.detections] == ["4"] and contained.number == "4"
    assert low.number == "147"  # the input is not changed


def test_from_weights_uses_metadata_threshold(random_tiny_weights: Path) -> None:
    _, metadata = load_weights(random_tiny_weights)
    assert (
        Detector.from_weights(random_tiny_weights, device="cpu").score_threshold == metadata.score_threshold
    )


def test_decode_batch_equals_one_image_at_a_time(detector: Detector) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (400, 400, 4), dtype=np.uint8), np.full((120, 300), 255, dtype=np.uint8)]
    batched = detector.decode_batch(images)
    assert batched.shape[0] == 2
    for index, image in enumerate(images):
        torch.testing.assert_close(batched[index : index + 1], detector.decode_batch([image]))


def test_the_torch_backend_runs_the_network_with_its_batch_norms_folded_and_the_same_outputs(
    batch_norms_as_trained: Callable[[torch.nn.Module], None],
) -> None:
    torch.manual_seed(0)
    config = load_model_config("yolov3-tiny")
    model = build_model(config)
    batch_norms_as_trained(model)
    norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    backend = TorchBackend(model, torch.device("cpu"))
    assert backend.model is model  # as given: the folding is a copy
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == norms
    used = sum(isinstance(m, CNNBlock) and m.use_bn_act for m in backend.network.modules())
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in backend.network.modules())
    assert used > 10 and left == norms - used  # only the unused batch norms of the biased head convs stay
    batch = np.random.default_rng(0).random((2, 3, config.input_size, config.input_size), dtype=np.float32)
    with torch.no_grad():
        anchors = torch.tensor(config.anchors, dtype=torch.float32)
        expected = decode(model(torch.from_numpy(batch)), anchors, config.input_size, config.xy_scale)
    torch.testing.assert_close(backend(batch), expected, rtol=0, atol=1e-4)


def test_detect_batch_selects_like_one_image_at_a_time(detector: Detector) -> None:
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (400, 400, 4), dtype=np.uint8), np.full((120, 300), 255, dtype=np.uint8)]
    batched = detector.detect_batch(images, score_threshold=0.01)
    for detections, image in zip(batched, images, strict=True):
        expected = detector(image, score_threshold=0.01).detections
        assert [d.label for d in detections] == [d.label for d in expected]
        np.testing.assert_allclose([d.box for d in detections], [d.box for d in expected], atol=1e-3)


def test_a_log_bias_moves_a_hesitant_box_to_the_favoured_class_only() -> None:
    probs = torch.tensor([[0.55, 0.45, 0.0], [0.9, 0.1, 0.0]])
    biased = apply_log_bias(probs, torch.tensor([0.0, 0.5, 0.0]))
    assert biased.sum(dim=1).tolist() == pytest.approx([1.0, 1.0])
    assert biased.argmax(dim=1).tolist() == [1, 0]  # the hesitant box changes, the confident one does not
    assert apply_log_bias(probs, torch.zeros(3)) is probs


def test_a_log_bias_for_an_unknown_class_is_refused() -> None:
    with pytest.raises(WeightsError, match="namer_log_bias"):
        WeightsMetadata.from_dict(
            {
                "model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS},
                "namer_log_bias": {"x": 1},
            }
        )
    metadata = WeightsMetadata.from_dict(
        {
            "model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS},
            "namer_log_bias": {"other": 0.5},
        }
    )
    assert WeightsMetadata.from_dict(metadata.to_dict()).namer_log_bias == {"other": 0.5}


# --------------------------------------------------------------------------- inputs and outputs


def fixed_detector() -> Detector:
    """A 'model' that sees a 4, a 2 and a censored object (at a 0.5 score threshold)."""
    metadata = WeightsMetadata.from_dict(
        {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.5}
    )
    rows = [
        ([48.0, 48.0, 72.0, 96.0], 4, 0.9),
        ([96.0, 48.0, 120.0, 96.0], 2, 0.8),
        ([48.0, 120.0, 144.0, 168.0], 10, 0.7),
    ]
    return Detector(FixedBackend(rows), metadata)


def test_paths_lists_and_tuples_give_what_one_image_at_a_time_gives(
    detector: Detector, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (400, 400, 4), dtype=np.uint8), np.full((120, 300), 255, dtype=np.uint8)]
    Image.fromarray(images[0]).save(tmp_path / "a.png")
    Image.fromarray(images[1]).save(tmp_path / "b.png")
    single = [detector(image, score_threshold=0.01) for image in images]
    for batch in (
        detector(images, score_threshold=0.01),
        detector(tuple(images), score_threshold=0.01),
        detector([str(tmp_path / "a.png"), tmp_path / "b.png"], score_threshold=0.01),
    ):
        assert isinstance(batch, list) and len(batch) == 2
        for result, expected in zip(batch, single, strict=True):
            assert [d.label for d in result.detections] == [d.label for d in expected.detections]
            np.testing.assert_allclose(
                [d.box for d in result.detections], [d.box for d in expected.detections], atol=1e-3
            )
            assert result.image_size == expected.image_size
    path_result = detector(str(tmp_path / "a.png"), score_threshold=0.01)
    assert isinstance(path_result.orig_img, Image.Image) and path_result.orig_img.mode == "RGBA"
    assert detector([]) == []


def test_a_batch_equals_one_image_at_a_time_exactly() -> None:
    detector = fixed_detector()
    images = [np.zeros((400, 400, 4), dtype=np.uint8), Image.new("L", (200, 100), 255)]
    batch = detector(images)
    single = [detector(image) for image in images]
    for result, expected in zip(batch, single, strict=True):
        assert replace(result, ms=0.0, timings_ms={}) == replace(expected, ms=0.0, timings_ms={})
        assert result.orig_img is expected.orig_img  # the input, by reference
    assert [r.number for r in batch] == ["42", "42"]


def test_the_kept_image_is_left_out_of_equality_and_repr() -> None:
    result = fixed_detector()(np.zeros((400, 400, 4), dtype=np.uint8))
    assert isinstance(result.orig_img, np.ndarray)
    assert result == replace(result, orig_img=None)  # no array comparison (it would raise)
    assert "orig_img" not in repr(result)


def test_yolo_lines_parse_back_to_the_boxes_and_scores() -> None:
    result = fixed_detector()(np.zeros((300, 500, 4), dtype=np.uint8))
    lines = result.to_yolo()
    assert len(lines) == len(result.detections) == 3
    fields = [line.split() for line in lines]
    assert all(len(f) == 6 for f in fields)
    assert [int(f[0]) for f in fields] == [d.class_id for d in result.detections]
    yolo = np.array([[float(v) for v in f[1:5]] for f in fields])
    assert (yolo >= 0).all() and (yolo <= 1).all()
    boxes = yolo_to_xyxy(yolo, result.image_size)
    np.testing.assert_allclose(boxes, [d.box for d in result.detections], atol=500 * 1e-6)
    np.testing.assert_allclose([float(f[5]) for f in fields], [d.score for d in result.detections], atol=1e-5)
    empty = fixed_detector()(np.zeros((300, 500, 4), dtype=np.uint8), score_threshold=0.95)
    assert empty.to_yolo() == [] and empty.to_coco(1) == []


def test_coco_records_hold_the_boxes_as_xywh_and_category_ids_as_the_export() -> None:
    result = fixed_detector()(np.zeros((400, 400, 4), dtype=np.uint8))
    records = result.to_coco(7)
    assert [set(r) for r in records] == [{"image_id", "category_id", "bbox", "score"}] * 3
    assert all(r["image_id"] == 7 for r in records)
    assert [r["category_id"] for r in records] == [d.class_id + CATEGORY_ID_OFFSET for d in result.detections]
    for record, detection in zip(records, result.detections, strict=True):
        x1, y1, x2, y2 = detection.box
        assert record["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-3)
        assert record["score"] == pytest.approx(detection.score, abs=1e-5)
    assert records[0]["bbox"] == pytest.approx([100.0, 100.0, 50.0, 100.0])


def test_plot_and_save_draw_the_apps_picture(tmp_path: Path) -> None:
    canvas = np.zeros((400, 400, 4), dtype=np.uint8)
    canvas[100:200, 120:130] = (0, 0, 0, 255)
    result = fixed_detector()(canvas)
    picture = result.plot()
    assert picture.mode == "RGB" and picture.size == (400, 400)
    paper = np.full((400, 400, 3), 255, dtype=np.uint8)  # the canvas composited on white
    paper[100:200, 120:130] = 0
    expected = annotate(Image.fromarray(paper), result.detections)
    assert np.array_equal(np.asarray(picture), np.asarray(expected))
    assert result.plot(scale=2).size == (800, 800)
    assert np.array_equal(np.asarray(result.plot(canvas)), np.asarray(picture))
    saved = result.save(tmp_path / "a.png")
    with Image.open(saved) as image:
        assert image.size == (400, 400) and np.array_equal(
            np.asarray(image.convert("RGB")), np.asarray(picture)
        )
    with pytest.raises(ValueError, match="pass the image"):
        replace(result, orig_img=None).plot()
    with pytest.raises(ValueError, match="the image is 10x10"):
        result.plot(np.zeros((10, 10), dtype=np.uint8))


@pytest.mark.parametrize("value", [-1, 2, 5, float("nan"), float("inf"), "half"])
def test_thresholds_outside_0_to_1_are_a_clear_value_error(
    detector: Detector, random_tiny_weights: Path, value: object
) -> None:
    image = np.full((64, 64, 3), 255, dtype=np.uint8)
    for name in ("score_threshold", "iou_threshold"):
        message = rf"^{name} must be a number from 0 to 1, got {re.escape(repr(value))}$"
        with pytest.raises(ValueError, match=message):
            Detector(detector.backend, detector.metadata, **{name: value})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=message):
            Detector.from_weights(random_tiny_weights, device="cpu", **{name: value})
        with pytest.raises(ValueError, match=message):
            detector(image, **{name: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^score_threshold must be"):
        detector.detect_batch([image], score_threshold=value)  # type: ignore[arg-type]


def test_thresholds_at_the_ends_are_taken(detector: Detector) -> None:
    image = np.full((64, 64, 3), 255, dtype=np.uint8)
    assert detector(image, score_threshold=1.0, iou_threshold=0.0).detections == []
    assert (
        Detector(detector.backend, detector.metadata, score_threshold=0, iou_threshold=1).score_threshold == 0
    )


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", r"^'tpu' is not a torch device"),
        ("meta", r"^the meta device holds no data"),
        pytest.param(
            "cuda:0",
            r"^CUDA is not available on this machine",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here"),
        ),
    ],
)
def test_a_device_that_cannot_run_the_model_is_a_device_error(
    random_tiny_weights: Path, device: str, message: str
) -> None:
    with pytest.raises(DeviceError, match=message):
        Detector.from_weights(random_tiny_weights, device=device)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("asked", "environment", "amx", "expected"),
    [
        (None, None, True, torch.bfloat16),  # auto: bfloat16 on a CPU with AMX tiles
        (None, None, False, torch.float32),  # ... and float32 on one without
        ("auto", None, False, torch.float32),
        (None, "float32", True, torch.float32),  # the environment's, when none is asked for
        (None, " BFloat16 ", False, torch.bfloat16),
        ("float32", "bfloat16", True, torch.float32),  # the asked one over the environment's
        ("bfloat16", None, False, torch.bfloat16),
    ],
)
def test_the_precision_is_the_asked_one_else_the_environment_s_else_bfloat16_only_with_amx(
    monkeypatch: pytest.MonkeyPatch,
    asked: str | None,
    environment: str | None,
    amx: bool,
    expected: torch.dtype,
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    if environment is None:
        monkeypatch.delenv(PRECISION_ENV, raising=False)
    else:
        monkeypatch.setenv(PRECISION_ENV, environment)
    assert resolve_precision(asked, torch.device("cpu")) == expected
    assert resolve_precision("auto", torch.device("cuda")) == torch.float32  # AMX is the CPU's


def test_an_unknown_precision_is_a_value_error_that_names_the_choices(
    random_tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"^precision must be one of auto, float32, bfloat16, got 'half'$"):
        Detector.from_weights(random_tiny_weights, precision="half")
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.raises(ValueError, match=r"^\$DIGIT_DETECTOR_PRECISION must be one of .*, got 'fp8'$"):
        Detector.from_weights(random_tiny_weights)


def test_in_bfloat16_the_shipped_networks_read_the_probe_s_numbers_as_in_float32() -> None:
    """The networks in bfloat16 (the default on a CPU with AMX: the PyTorch pipeline 12.9 -> 8.2 ms on the
    number canvas) and everything else in float32: the same numbers, boxes within a pixel or two, scores
    within a few hundredths. `docs/experiments.md` (package 4.32.0) compares them on 7,000 canvases."""
    readers = {
        precision: Detector.from_weights(device="cpu", precision=precision)
        for precision in ("float32", "bfloat16")
    }
    for precision, reader in readers.items():
        assert isinstance(reader.backend, TorchBackend) and isinstance(reader.namer, TorchNamer)
        networks = (reader.backend.network, reader.namer.module)
        dtypes = {parameter.dtype for network in networks for parameter in network.parameters()}
        assert dtypes == {getattr(torch, precision)}
    numbers = [d for d in probe_drawings() if "number" in d.kind]
    assert len(numbers) >= 9
    for drawing in numbers:
        canvas = render_strokes(drawing.strokes, width=drawing.pen_width)
        plain, half = (reader(canvas) for reader in readers.values())
        assert half.number == plain.number == drawing.expected, drawing
        assert [d.class_id for d in half.detections] == [d.class_id for d in plain.detections]
        boxes = [np.array([d.box for d in result.detections]) for result in (plain, half)]
        np.testing.assert_allclose(boxes[1], boxes[0], atol=2.0)
        assert (
            max(abs(a.score - b.score) for a, b in zip(plain.detections, half.detections, strict=True)) < 0.05
        )

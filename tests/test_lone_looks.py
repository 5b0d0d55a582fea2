"""Lone looks: a canvas's lone box is named from crops of it scaled and turned, the answers averaged."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.models import DEFAULT_ANCHORS
from digit_detector.preprocess import preprocess_array
from digit_detector.probe_drawings import digit_strokes
from digit_detector.results import Detection, DetectionResult
from digit_detector.second_stage import LoneLooks, lone_look_probabilities, turned_inputs
from digit_detector.training.lone_digit import make_lone_looks_weights
from digit_detector.weights import DEFAULT_WEIGHTS, WeightsError, WeightsMetadata, read_metadata

RECORD = {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.45}
LOOKS = LoneLooks(scales=(0.9, 1.0, 1.1), degrees=(-10.0, 0.0, 10.0))


class TurnReadingNamer:
    """Reads a mark drawn straight above a box's centre (in the top 20 rows): `7` when the image was turned
    clockwise (the mark right of the centre), else `1`; remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Any]] = []

    def __call__(self, images: Any, boxes: Any, image_index: Any) -> np.ndarray:
        self.calls.append((images, boxes, image_index))
        probs = np.zeros((len(boxes), 12), np.float32)
        for row, (box, index) in enumerate(zip(boxes, image_index, strict=True)):
            mark_x = int(np.argmin(images[index][0, :20].min(axis=0)))
            probs[row, 7 if mark_x > (box[0] + box[2]) / 2 + 1 else 1] = 1.0
        return probs


def test_looks_are_checked_and_survive_the_weights_record(tmp_path: Path) -> None:
    metadata = WeightsMetadata.from_dict({**RECORD, "lone_looks": LOOKS.to_dict()})
    assert metadata.lone_looks == LOOKS
    assert WeightsMetadata.from_dict(json.loads(json.dumps(metadata.to_dict()))) == metadata
    assert WeightsMetadata.from_dict(RECORD).lone_looks is None  # older weights: one crop per box
    for looks, message in [
        ({"scales": [1.0]}, "lone_looks must be"),
        ({"scales": [1.0], "degrees": [90]}, "angles must be from -45 to 45"),
        ({"scales": [0.1], "degrees": [0]}, "scales must be from 0.5 to 2"),
        ({"scales": [], "degrees": [0]}, "at least one scale and one angle"),
        ({"scales": [1.0] * 8, "degrees": [0.0] * 7}, "at most 49 lone looks"),
    ]:
        (tmp_path / "w.json").write_text(json.dumps({**RECORD, "lone_looks": looks}))
        with pytest.raises(WeightsError, match=message):
            read_metadata(tmp_path / "w.safetensors")


def marked_canvas(size: int, mark: tuple[int, int]) -> np.ndarray:
    """A white RGB canvas with one black pixel at ``mark`` (x, y)."""
    image = np.full((size, size, 3), 255, np.uint8)
    image[mark[1], mark[0]] = 0
    return image


def test_turned_inputs_turn_the_image_about_the_centre_then_preprocess_it() -> None:
    (upright, quarter), letterbox = turned_inputs(
        marked_canvas(384, (192, 40)), (192.0, 192.0), [0.0, 90.0], 192
    )
    assert letterbox.scale == 0.5  # 384 px -> the 192 px input
    assert upright[0, 20, 96] < 0.9  # the mark straight above the centre
    assert quarter[0, 96, 20] < 0.9 and quarter[0, 20, 96] == 1.0  # a quarter counterclockwise: left of it
    (corner,), _ = turned_inputs(np.zeros((64, 64, 3), np.uint8), (0.0, 0.0), [45.0], 64)
    assert corner[:, 63, 0].min() == 1.0  # from outside the image: white paper


def test_the_looks_cut_every_scale_in_every_turned_input_and_average_the_answers() -> None:
    namer = TurnReadingNamer()
    probs = lone_look_probabilities(namer, marked_canvas(64, (32, 10)), (22.0, 12.0, 42.0, 52.0), LOOKS, 64)
    ((images, boxes, image_index),) = namer.calls  # one namer call for all nine looks
    assert images.shape == (3, 3, 64, 64) and boxes.shape == (9, 4)
    assert image_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(boxes[4], [22.0, 12.0, 42.0, 52.0])  # the box as found, upright
    np.testing.assert_allclose(boxes[3], [23.0, 14.0, 41.0, 50.0])  # scaled 0.9 about its centre
    assert probs.shape == (1, 12)
    np.testing.assert_allclose(probs[0, [1, 7]], [2 / 3, 1 / 3])  # one angle of three reads `7`


def looking(namer: Any, looks: LoneLooks | None = LOOKS, lone_digit: float | None = None) -> Detector:
    metadata = replace(
        WeightsMetadata.from_dict(RECORD), lone_looks=looks, lone_digit_min_probability=lone_digit
    )
    return Detector(backend=None, metadata=metadata, namer=namer)  # type: ignore[arg-type]


FOUR = Detection("4", 4, 0.4, (40.0, 40.0, 80.0, 80.0), objectness=0.8)  # named with probability 0.5
NINE = Detection("9", 9, 0.45, (100.0, 40.0, 140.0, 80.0), objectness=0.9)


def test_only_a_lone_unsure_box_is_named_again_its_objectness_kept() -> None:
    namer = TurnReadingNamer()
    detector = looking(namer)
    canvas = marked_canvas(192, (60, 10))
    (renamed,) = detector.shown([FOUR], None, lambda lone: detector.looked_again(lone, canvas))
    assert renamed.objectness == 0.8 and renamed.box == FOUR.box
    assert (renamed.label, renamed.class_id) == ("1", 1)
    assert renamed.score == pytest.approx(0.8 * 2 / 3) and renamed.runner_up == "7"
    assert detector.shown([FOUR, NINE], None, lambda lone: detector.looked_again(lone, canvas)) == [
        FOUR,
        NINE,
    ]
    assert looking(namer, looks=None).looked_again(FOUR, canvas) == FOUR  # weights without looks
    sure = replace(FOUR, score=0.8 * 0.85)
    assert detector.looked_again(sure, canvas) == sure  # a name the namer is sure of is not looked at again
    assert len(namer.calls) == 1


def test_the_replay_looks_again_in_the_image_the_result_keeps() -> None:
    namer = TurnReadingNamer()
    detector = looking(namer)
    result = DetectionResult([FOUR, NINE], "49", (192, 192), 0.0, orig_img=marked_canvas(192, (60, 10)))
    assert [d.label for d in detector.reselect(result, 0.85).detections] == ["1"]  # only NINE's 0.9 stays
    assert [d.label for d in detector.reselect(result, 0.5).detections] == ["4", "9"]  # two boxes: as found
    assert len(namer.calls) == 1
    kept = replace(result, orig_img=None)
    assert [d.label for d in detector.reselect(kept, 0.85).detections] == ["9"]  # no image: as found


@pytest.fixture(scope="module")
def shipped_torch() -> Detector:
    return Detector.from_weights(DEFAULT_WEIGHTS, device="cpu", backend="torch")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_the_shipped_detector_looks_again_alike_on_both_backends(
    backend: str, shipped_torch: Detector
) -> None:
    """The looks on the shipped weights: a drawn `4` is read `4` from its nine looks, with the probabilities
    the torch namer gives them on onnxruntime too; the namer is sure of it, so it is shown as one look
    names it."""
    detector = Detector.from_weights(DEFAULT_WEIGHTS, device="cpu", backend=backend)
    assert detector.metadata.lone_looks is not None
    four = render_strokes(digit_strokes("4", 130, 80, 240))
    (found,) = detector(four).detections
    assert found.label == "4" and not detector.looks_again_at(found)
    looks = detector.lone_look_probabilities(found.box, four)
    torch_looks = shipped_torch.lone_look_probabilities(found.box, four)
    assert looks is not None and torch_looks is not None and int(looks.argmax()) == 4
    np.testing.assert_allclose(looks, torch_looks, atol=2e-3)
    unsure = replace(found, score=(found.objectness or 0.0) * 0.5)
    assert detector.looked_again(unsure, four).score == pytest.approx((found.objectness or 0.0) * looks[4])
    upright = preprocess_array(four, detector.metadata.model.input_size)  # as the detector made it: the same
    np.testing.assert_array_equal(detector.lone_look_probabilities(found.box, four, upright), looks)


def test_lone_looks_writes_weights_with_the_looks_and_refuses_weights_without_a_namer(
    random_tiny_weights: Path, tmp_path: Path
) -> None:
    written = make_lone_looks_weights(
        DEFAULT_WEIGHTS, tmp_path / "out", [0.9, 1.0], [-5.0, 5.0], command="cmd", version="v-looks"
    )
    metadata = read_metadata(written)
    assert metadata.lone_looks == LoneLooks((0.9, 1.0), (-5.0, 5.0)) and metadata.version == "v-looks"
    assert metadata.training["chain"][-1] == {"stage": "lone-looks", "command": "cmd"}
    assert (tmp_path / "out" / str(metadata.namer)).exists()
    with pytest.raises(ValueError, match="has no namer"):
        make_lone_looks_weights(random_tiny_weights, tmp_path / "bad", [1.0], [0.0], command="c", version="v")
    with pytest.raises(ValueError, match="angles must be from -45 to 45"):
        make_lone_looks_weights(DEFAULT_WEIGHTS, tmp_path / "bad", [1.0], [60.0], command="c", version="v")
    assert not (tmp_path / "bad").exists()

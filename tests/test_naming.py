"""The second stage: crops, the crop classifier, its training, and the Detector naming boxes with it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from digit_detector.classes import CLASS_NAMES
from digit_detector.data.yolo_format import load_split, write_sample
from digit_detector.detector import Detector
from digit_detector.models import DEFAULT_ANCHORS
from digit_detector.models.layers import folded_batch_norms
from digit_detector.naming import (
    BoxNamer,
    CropClassifier,
    NamerConfig,
    NamerEnsemble,
    box_window,
    broadened,
    crop_ink,
    image_window,
    input_ink,
    load_namer,
    narrowed,
    square_regions,
    widened,
)
from digit_detector.second_stage import (
    THIN_BOX_LOOKS,
    UNSURE_LOOKS,
    CropLook,
    TorchNamer,
    name_probabilities,
    split_rejection,
)
from digit_detector.training.crop_sets import CropSet
from digit_detector.training.found_boxes import (
    find_boxes,
    found_crop_set,
    load_found_boxes,
    proposal_crop_set,
    save_found_boxes,
)
from digit_detector.training.namer import accuracy_by_kind, predict_crop_set, save_namer, train_namer
from digit_detector.weights import DEFAULT_WEIGHTS, WeightsError, WeightsMetadata

METADATA = WeightsMetadata.from_dict(
    {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.5}
)


def test_square_regions_keep_the_centre_and_take_the_longer_side() -> None:
    squares = square_regions(torch.tensor([[10.0, 20.0, 30.0, 100.0]]), margin=0.1)
    torch.testing.assert_close(squares, torch.tensor([[-28.0, 12.0, 68.0, 108.0]]))


def test_crops_see_the_box_ink_and_paper_outside_the_image() -> None:
    images = torch.ones(1, 3, 64, 64)
    images[0, :, 10:30, 20:24] = 0.0  # a black vertical bar, 20 tall and 4 wide
    crops = crop_ink(
        input_ink(images), torch.tensor([[20.0, 10.0, 24.0, 30.0]]), torch.tensor([0]), size=20, margin=0.0
    )
    assert crops.shape == (1, 1, 20, 20)
    assert crops[0, 0, :, 9:11].min() > 0.9  # the bar stays a thin bar in the middle: the crop is square
    assert crops[0, 0, :, :6].max() < 0.05 and crops[0, 0, :, 14:].max() < 0.05
    outside = crop_ink(
        torch.zeros(1, 1, 32, 32), torch.tensor([[-40.0, -40.0, -20.0, -20.0]]), torch.tensor([0])
    )
    assert outside.abs().max() == 0.0  # beyond the image is paper


def test_a_thin_stroke_in_a_large_box_is_cut_black_not_faint() -> None:
    """A crop pixel averages many input pixels: a line 2 pixels wide boxed 150 px tall came out about 0.3
    grey (a straight `1` drawn 350 px tall with the thinnest pen), a kind of crop the namer had hardly
    seen. The crop's darkest pixel is made black; a crop of paper stays paper."""
    images = torch.ones(1, 3, 192, 192)
    images[0, :, 20:170, 96:98] = 0.0
    crops = crop_ink(input_ink(images), torch.tensor([[96.0, 20.0, 98.0, 170.0]]), torch.tensor([0]))
    assert crops.max() == 1.0
    assert (crops[0, 0, 6:22].amax(dim=1) > 0.4).all()  # every row of the line, not a grey ghost
    blank = crop_ink(torch.zeros(1, 1, 64, 64), torch.tensor([[10.0, 10.0, 30.0, 30.0]]), torch.tensor([0]))
    assert blank.abs().max() == 0.0


def orientation_set(ink: np.ndarray, boxes: list[list[int]], labels: list[int]) -> CropSet:
    """One box per image of ``ink``, labelled 0 (a horizontal bar) or 1 (a vertical one)."""
    return CropSet(
        torch.from_numpy(ink),
        torch.tensor(boxes, dtype=torch.float32),
        torch.arange(len(labels)),
        torch.tensor(labels),
        ["horizontal" if label == 0 else "vertical" for label in labels],
    )


def bar_crop_set(count: int, seed: int, only: int | None = None) -> CropSet:
    """Images with one bar each: class 0 horizontal, class 1 vertical (``only``: every bar of that class),
    at random places and lengths."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((count, 1, 64, 64), dtype=np.uint8)
    boxes, labels = [], []
    for index in range(count):
        label = int(rng.integers(2)) if only is None else only
        length, thickness = int(rng.integers(14, 40)), int(rng.integers(2, 6))
        x, y = int(rng.integers(0, 64 - length)), int(rng.integers(0, 64 - length))
        w, h = (length, thickness) if label == 0 else (thickness, length)
        ink[index, 0, y : y + h, x : x + w] = 255
        boxes.append([x, y, x + w, y + h])
        labels.append(label)
    return orientation_set(ink, boxes, labels)


def small_run(
    make_set: Callable[[int, int], CropSet], config: NamerConfig
) -> tuple[CropClassifier, dict[str, Any]]:
    """The recipe for 4 epochs on 400 boxes of ``make_set(count, seed)``, validated on 100 more."""
    return train_namer(
        [make_set(400, 0)], make_set(100, 1), config=config, epochs=4, batch_size=32, progress=False
    )


def test_the_recipe_learns_to_name_boxes() -> None:
    config = NamerConfig(num_classes=2, widths=(8, 16, 16))
    model, history = small_run(bar_crop_set, config)
    test = bar_crop_set(200, 2)
    report = accuracy_by_kind(predict_crop_set(model, test), test)
    assert report["accuracy"] >= 0.9, report
    assert set(report["by_kind"]) == {"horizontal", "vertical"}
    assert history["epochs"] == 4 and len(history["val_accuracy"]) == 4


def test_the_recipe_learns_under_bfloat16_autocast_and_keeps_float32_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`namer train --precision bfloat16` (auto on a CPU with AMX): the convolutions run in bfloat16, the
    weights stay float32, and the recipe still learns."""
    seen: set[torch.dtype] = set()
    forward = torch.nn.Conv2d.forward

    def recording(self: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        out = forward(self, x)
        seen.add(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", recording)
    config = NamerConfig(num_classes=2, widths=(8, 16, 16))
    model, _ = train_namer(
        [bar_crop_set(400, 0)], bar_crop_set(100, 1), config=config, epochs=4, batch_size=32, progress=False,
        autocast=torch.bfloat16,
    )  # fmt: skip
    assert torch.bfloat16 in seen
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}
    test = bar_crop_set(200, 2)
    assert accuracy_by_kind(predict_crop_set(model, test), test)["accuracy"] >= 0.9


def test_each_epoch_is_handed_over_as_it_ends() -> None:
    """What lets `namer train` save every epoch: a run stopped by its time limit keeps its last one."""
    config = NamerConfig(num_classes=2, widths=(4, 8, 8))
    handed: list[tuple[int, list[float], float]] = []

    def keep(model: CropClassifier, history: dict[str, Any]) -> None:
        assert isinstance(model, CropClassifier)
        handed.append((history["epochs"], list(history["val_accuracy"]), history["seconds"]))

    _, history = train_namer(
        [bar_crop_set(64, 0)], bar_crop_set(32, 1), config=config, epochs=3, batch_size=32, progress=False,
        on_epoch=keep,
    )  # fmt: skip
    assert [epochs for epochs, _, _ in handed] == [1, 2, 3]
    assert handed[-1][1] == history["val_accuracy"] and all(seconds >= 0 for _, _, seconds in handed)


def test_fine_tuning_starts_from_the_given_weights() -> None:
    config = NamerConfig(num_classes=2, widths=(8, 16, 16))
    trained, _ = small_run(bar_crop_set, config)
    test = bar_crop_set(200, 2)
    # a step of almost no learning rate from the trained weights: it names as they do
    tuned, _ = train_namer(
        [bar_crop_set(32, 3)],
        bar_crop_set(32, 4),
        config=config,
        epochs=1,
        batch_size=32,
        lr=1e-9,
        progress=False,
        init=trained.state_dict(),
    )
    assert accuracy_by_kind(predict_crop_set(tuned, test), test)["accuracy"] >= 0.9
    first = next(iter(trained.state_dict()))
    assert torch.allclose(tuned.state_dict()[first], trained.state_dict()[first], atol=1e-6)


def test_distillation_keeps_the_start_s_answers_where_the_fine_tune_s_labels_differ() -> None:
    """Fine-tuned on a set that calls every bar horizontal, a namer forgets the vertical ones; learning the
    start's own answers as well (``distill``) keeps them, as `namer train --distill` keeps the shipped
    namer's rejection of boxes that a fine-tuning set labels otherwise."""
    config = NamerConfig(num_classes=2, widths=(8, 16, 16))
    trained, _ = small_run(bar_crop_set, config)
    vertical = bar_crop_set(200, 5, only=1)
    assert accuracy_by_kind(predict_crop_set(trained, vertical), vertical)["accuracy"] >= 0.9
    every_bar = bar_crop_set(400, 6)
    every_bar.labels[:] = 0

    def fine_tuned(distill: float) -> float:
        tuned, _ = train_namer(
            [every_bar], bar_crop_set(32, 7), config=config, epochs=3, batch_size=32, lr=3e-3,
            progress=False, init=trained.state_dict(), distill=distill,
        )  # fmt: skip
        return float(accuracy_by_kind(predict_crop_set(tuned, vertical), vertical)["accuracy"])

    assert fine_tuned(0.0) < 0.5
    assert fine_tuned(1.0) >= 0.9
    with pytest.raises(ValueError, match="give init"):
        train_namer([bar_crop_set(32, 8)], bar_crop_set(32, 9), config=config, epochs=1, distill=1.0)
    # a smaller namer cut from the start learns the start's answers from it (``teacher``), not its own
    narrow = narrowed(trained, (4, 8, 8))
    taught, _ = train_namer(
        [every_bar], bar_crop_set(32, 7), config=narrow.config, epochs=3, batch_size=32, lr=3e-3,
        progress=False, init=narrow.state_dict(), distill=1.0, teacher=trained,
    )  # fmt: skip
    assert taught.config.widths == (4, 8, 8)
    assert accuracy_by_kind(predict_crop_set(taught, vertical), vertical)["accuracy"] >= 0.9


def test_found_boxes_are_learnt_as_their_object_or_as_not_one(tmp_path: Path) -> None:
    """Boxes a detector finds: one on a digit takes its class, a part of a digit the reject label, one
    between the two thresholds is left out."""
    canvas = np.full((192, 192, 3), 255, dtype=np.uint8)
    canvas[40:100, 20:50] = 0  # a "3"
    canvas[40:100, 60:90] = 0  # a "5"
    write_sample(
        tmp_path, "train", "a", canvas, np.array([3, 5]), np.array([[20, 40, 50, 100], [60, 40, 90, 100]])
    )
    backend = FixedBackend(
        [
            ([20.0, 40.0, 50.0, 100.0], 0.9, 3),  # the 3
            ([60.0, 40.0, 90.0, 55.0], 0.8, 1),  # the top of the 5: IoU 0.25
            ([20.0, 40.0, 90.0, 100.0], 0.7, 8),  # over both: IoU 0.43 with each, left out
        ]
    )
    detector = Detector(backend, METADATA, fit_to_ink=False)
    found = proposal_crop_set([detector], tmp_path, "train", progress=False)
    assert found.labels.tolist() == [3, len(CLASS_NAMES)]
    assert found.kinds == ["found", "found-reject"] and found.ink.shape == (1, 1, 192, 192)
    torch.testing.assert_close(found.boxes[1], torch.tensor([60.0, 40.0, 90.0, 55.0]))


def found_box_detector() -> Detector:
    """A detector that finds the same four boxes in every canvas (some on bars, some not)."""
    backend = FixedBackend(
        [
            ([20.0, 10.0, 32.0, 70.0], 0.9, 1),
            ([100.0, 40.0, 112.0, 100.0], 0.8, 1),
            ([20.0, 40.0, 80.0, 52.0], 0.7, 7),
            ([150.0, 150.0, 170.0, 170.0], 0.6, 3),
        ]
    )
    return Detector(backend, METADATA, fit_to_ink=False)


def test_found_boxes_saved_and_read_again_are_the_crop_set_found(tmp_path: Path) -> None:
    """`namer find-boxes` then `namer train --found-boxes`: the boxes found, saved and read again with the
    canvases' ink (by two reader processes), are the crop set the detectors give."""
    root = tmp_path / "data"
    write_bar_canvases(root, "train", 70)  # enough canvases for two reader processes to read them again
    detector = found_box_detector()
    found_here, ink_here = find_boxes([detector], root, "train", progress=False)
    in_one = found_here.crop_set(ink_here)
    found, ink = find_boxes([detector], root, "train", limit=66, progress=False)
    assert len(found.canvases) == 66 and ink.shape[0] == 66
    [again] = load_found_boxes(save_found_boxes([found], tmp_path / "found.npz"))
    assert again.detectors == [METADATA.version] and again.split == "train"
    read_again = found_crop_set(again, root, workers=2, progress=False)
    first = in_one.image_index < 66
    assert 0 < int((read_again.labels == len(CLASS_NAMES)).sum()) < len(read_again)  # both kinds
    torch.testing.assert_close(read_again.boxes, in_one.boxes[first])
    assert read_again.labels.tolist() == in_one.labels[first].tolist()
    assert read_again.image_index.tolist() == in_one.image_index[first].tolist()
    assert read_again.kinds == [kind for kind, keep in zip(in_one.kinds, first.tolist(), strict=True) if keep]
    assert torch.equal(read_again.ink, in_one.ink[:66])


def test_found_boxes_refuse_canvases_they_were_not_found_in(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_bar_canvases(root, "train", 6)
    found, _ = find_boxes([found_box_detector()], root, "train", progress=False)
    sample = load_split(root, "train").samples[2]
    canvas = np.full((192, 192, 3), 255, dtype=np.uint8)
    canvas[10:70, 20:32] = 0
    write_sample(root, "train", sample.image_path.stem, canvas, np.array([1]), np.array([[20.0, 10, 32, 70]]))
    with pytest.raises(ValueError, match=r"other canvases than .* train split"):
        found_crop_set(found, root, workers=1, progress=False)
    write_bar_canvases(tmp_path / "fewer", "train", 4)
    with pytest.raises(ValueError, match="make the data again with the same recipe and seed"):
        found_crop_set(found, tmp_path / "fewer", workers=1, progress=False)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "no description", "other format", "bad index"])
def test_a_file_that_is_not_found_boxes_is_refused_clearly(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "data"
    write_bar_canvases(root, "train", 4)
    found, _ = find_boxes([found_box_detector()], root, "train", progress=False)
    path = save_found_boxes([found], tmp_path / "found.npz")
    if kind == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "no description":
        with path.open("wb") as handle:
            np.savez(handle, boxes_0=found.boxes)
    else:
        with np.load(path) as arrays:
            content = dict(arrays)
        description = json.loads(str(content["description"]))
        if kind == "other format":
            description["format"] = "something else"
        else:
            content["image_index_0"] = content["image_index_0"] + 100
        content["description"] = np.asarray(json.dumps(description))
        with path.open("wb") as handle:
            np.savez(handle, **content)
    with pytest.raises(ValueError, match="is not a found-boxes file"):
        load_found_boxes(path)


def test_the_box_window_marks_where_the_box_lies_in_its_square_crop() -> None:
    window = box_window(torch.tensor([[20.0, 10.0, 24.0, 30.0], [0.0, 0.0, 40.0, 40.0]]), size=20, margin=0.0)
    assert window.shape == (2, 1, 20, 20)
    # a box 4 wide and 20 tall: all rows of the middle 4 columns of its 20x20 crop
    assert window[0, 0].sum(dim=0).tolist() == [0.0] * 8 + [20.0] * 4 + [0.0] * 8
    assert window[1].min() == 1.0  # a square box fills its crop
    # a box narrower than a crop pixel (a straight `1` 300 px tall) still marks the columns at its centre
    thin = box_window(torch.tensor([[99.0, 20.0, 101.0, 320.0]]), size=28)
    assert thin[0, 0].sum(dim=0).tolist() == [0.0] * 13 + [22.0, 22.0] + [0.0] * 13  # 22 rows: the margins


def crossed_bars(count: int, seed: int) -> CropSet:
    """A `+` of two equal bars per image, one of them boxed: class 0 the horizontal, 1 the vertical. Both
    boxes have the same square crop, so only the box's window tells them apart."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((count, 1, 64, 64), dtype=np.uint8)
    boxes, labels = [], []
    for index in range(count):
        length, thickness = int(rng.integers(16, 40)), int(rng.integers(2, 6))
        x, y = int(rng.integers(0, 64 - length)), int(rng.integers(0, 64 - length))
        across = y + (length - thickness) // 2
        down = x + (length - thickness) // 2
        ink[index, 0, across : across + thickness, x : x + length] = 255
        ink[index, 0, y : y + length, down : down + thickness] = 255
        label = int(rng.integers(2))
        boxes.append(
            [x, across, x + length, across + thickness]
            if label == 0
            else [down, y, down + thickness, y + length]
        )
        labels.append(label)
    return orientation_set(ink, boxes, labels)


def test_the_box_channel_tells_which_ink_is_the_box_s() -> None:
    test = crossed_bars(200, 2)
    accuracy = {}
    for box_channel in (False, True):
        config = NamerConfig(num_classes=2, widths=(8, 16, 16), box_channel=box_channel)
        model, _ = small_run(crossed_bars, config)
        accuracy[box_channel] = accuracy_by_kind(predict_crop_set(model, test), test)["accuracy"]
    assert accuracy[True] >= 0.9 and accuracy[False] <= 0.7, accuracy


def blob_beside_bar(count: int, seed: int) -> CropSet:
    """A boxed square blob per image with a bar beside it, a third of the blob's side away and half a side
    long: class 0 when the bar lies flat, 1 when it stands. The blob's own crop (margin 0.12) never reaches
    the bar; a context crop of margin 1 holds it."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((count, 1, 96, 96), dtype=np.uint8)
    boxes, labels = [], []
    for index in range(count):
        label, side = int(rng.integers(2)), int(rng.integers(12, 20))
        x, y = int(rng.integers(20, 40)), int(rng.integers(20, 50))
        ink[index, 0, y : y + side, x : x + side] = 255
        start, reach = x + side + side // 3, side // 2
        if label == 0:
            ink[index, 0, y + side // 2 : y + side // 2 + 3, start : start + reach] = 255
        else:
            ink[index, 0, y + side // 4 : y + side // 4 + reach, start : start + 3] = 255
        boxes.append([x, y, x + side, y + side])
        labels.append(label)
    return orientation_set(ink, boxes, labels)


def test_the_context_channel_sees_what_lies_beside_the_box() -> None:
    test = blob_beside_bar(200, 2)
    accuracy = {}
    for context_margin in (None, 1.0):
        config = NamerConfig(num_classes=2, widths=(8, 16, 16), context_margin=context_margin)
        model, _ = small_run(blob_beside_bar, config)
        accuracy[context_margin] = accuracy_by_kind(predict_crop_set(model, test), test)["accuracy"]
    assert accuracy[1.0] >= 0.9 and accuracy[None] <= 0.7, accuracy


def bar_at_edge(count: int, seed: int) -> CropSet:
    """A lying bar per image, boxed: class 1 when its box touches the image's left or right edge (the
    edge cuts it), 0 when it ends on paper. Cut from the box's square crop, both are a bar with paper on
    each side: only which crop pixels lie on the image tells them apart."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((count, 1, 64, 64), dtype=np.uint8)
    boxes, labels = [], []
    for index in range(count):
        label, length, y = int(rng.integers(2)), int(rng.integers(16, 30)), int(rng.integers(10, 50))
        if label == 1:
            x = 0 if rng.random() < 0.5 else 64 - length
        else:
            x = int(rng.integers(8, 64 - length - 8))
        ink[index, 0, y : y + 3, x : x + length] = 255
        boxes.append([x, y, x + length, y + 3])
        labels.append(label)
    return orientation_set(ink, boxes, labels)


def test_the_edge_channel_tells_a_cut_drawing_from_one_on_paper() -> None:
    test = bar_at_edge(200, 2)
    accuracy = {}
    for edge_channel in (False, True):
        config = NamerConfig(num_classes=2, widths=(8, 16, 16), edge_channel=edge_channel)
        model, _ = small_run(bar_at_edge, config)
        accuracy[edge_channel] = accuracy_by_kind(predict_crop_set(model, test), test)["accuracy"]
    assert accuracy[True] >= 0.9 and accuracy[False] <= 0.7, accuracy


def test_the_image_window_is_one_on_the_image_and_zero_beyond_it() -> None:
    boxes = torch.tensor([[0.0, 10.0, 20.0, 30.0], [20.0, 20.0, 40.0, 40.0]])
    window = image_window(torch.zeros(1, 1, 64, 64), boxes, torch.tensor([0, 0]), size=8, margin=0.25)
    assert window.shape == (2, 1, 8, 8)
    assert window[0, 0, :, 0].max() == 0.0 and window[0, 0, :, 2:].min() == 1.0  # its left edge lies beyond
    assert window[1].min() == 1.0  # wholly on the image


@pytest.mark.parametrize(
    ("start", "growth"),
    [
        ({}, {"box_channel": True, "rejects": True}),
        ({}, {"box_channel": True, "rejects": True, "context_margin": 0.75}),
        ({"box_channel": True, "rejects": True}, {"context_margin": 0.5}),
        ({"context_margin": 0.5}, {"box_channel": True}),
        ({"box_channel": True, "rejects": True}, {"edge_channel": True}),
    ],
    ids=[
        "box and reject",
        "box, reject and context",
        "context after box",
        "box after context",
        "edge after box",
    ],
)
def test_a_widened_classifier_names_as_before_until_fine_tuned(
    start: dict[str, Any], growth: dict[str, Any]
) -> None:
    torch.manual_seed(0)
    plain = CropClassifier(NamerConfig(widths=(8, 16, 16), **start)).eval()
    grown = widened(plain, **growth)
    added = ("box_channel", "context_margin", "edge_channel")
    assert grown.config.in_channels == plain.config.in_channels + sum(bool(growth.get(a)) for a in added)
    assert grown.config.outputs == plain.config.outputs + bool(growth.get("rejects"))
    ink, boxes = torch.rand(2, 1, 64, 64), torch.tensor([[5.0, 8.0, 20.0, 40.0], [30.0, 30.0, 60.0, 44.0]])
    index = torch.tensor([0, 1])
    probabilities = grown.box_probabilities(ink, boxes, index)
    if growth.get("rejects"):
        probabilities, whole = split_rejection(probabilities, plain.config.num_classes)
        assert whole.min() > 0.9  # the new reject output starts out rarely rejecting
    torch.testing.assert_close(probabilities, plain.box_probabilities(ink, boxes, index))
    for grown_again in growth:
        with pytest.raises(ValueError, match="already"):
            widened(grown, **{grown_again: growth[grown_again]})


def test_a_narrowed_classifier_keeps_the_channels_its_batch_norms_weigh_most() -> None:
    """Channels whose batch norm scales them to nothing add nothing; cut down to the others, the classifier
    gives the same answers, and at its own widths it is unchanged."""
    torch.manual_seed(0)
    wide = CropClassifier(NamerConfig(widths=(8, 16, 16), box_channel=True, rejects=True)).eval()
    kept_widths = (3, 5, 7)
    with torch.no_grad():
        for block, width in enumerate(kept_widths):
            for norm in (1, 4):
                batch_norm = wide.features[block][norm]
                batch_norm.running_mean.uniform_(-0.5, 0.5)
                batch_norm.running_var.uniform_(0.5, 2.0)
                batch_norm.bias.uniform_(-0.2, 0.2)
                scale = torch.rand(batch_norm.weight.shape) + 0.5
                silent = torch.randperm(len(scale))[: len(scale) - width]
                scale[silent], batch_norm.bias[silent] = 0.0, 0.0  # these channels are zero after the ReLU
                batch_norm.weight.copy_(scale)
    crops = torch.rand(6, 2, 28, 28)
    small = narrowed(wide, kept_widths)
    assert small.config.widths == kept_widths and small.config.rejects and small.config.box_channel
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in wide.parameters()) / 3
    torch.testing.assert_close(small(crops), wide(crops))
    torch.testing.assert_close(narrowed(wide, wide.config.widths)(crops), wide(crops))
    with pytest.raises(ValueError, match="between 1 and"):
        narrowed(wide, (8, 32, 16))


def test_a_broadened_classifier_names_as_its_start_and_its_copies_learn_apart() -> None:
    """More channels per block, each a copy of an old one with the next layer's weights shared between the
    copies: the same answers (up to the copies' noise); fine-tuned, the copies drift apart."""
    config = NamerConfig(num_classes=2, widths=(8, 16, 16), box_channel=True, rejects=True)
    trained, _ = small_run(bar_crop_set, config)
    wide = broadened(trained, (12, 24, 32))
    assert wide.config == dataclasses.replace(trained.config, widths=(12, 24, 32))
    test = bar_crop_set(200, 2)
    torch.testing.assert_close(
        predict_crop_set(wide, test), predict_crop_set(trained, test), rtol=0, atol=0.02
    )
    with pytest.raises(ValueError, match="at least"):
        broadened(trained, (12, 8, 32))
    tuned, _ = train_namer(
        [bar_crop_set(400, 3)], bar_crop_set(32, 4), config=wide.config, epochs=2, batch_size=32,
        progress=False, init=wide.state_dict(),
    )  # fmt: skip
    # the last convolution's channel 16 began as a copy of one of its first 16, plus noise
    start, end = wide.features[2][3].weight.detach(), tuned.features[2][3].weight.detach()
    copied = int((start[:16] - start[16]).flatten(1).norm(dim=1).argmin())
    assert (end[16] - end[copied]).abs().max() > 5 * (start[16] - start[copied]).abs().max()


def test_split_rejection_takes_the_last_output_off_and_renormalises() -> None:
    probs = np.array([[0.6, 0.2, 0.2], [0.1, 0.1, 0.8]], dtype=np.float32)
    names, whole = split_rejection(probs, 2)
    np.testing.assert_allclose(whole, [0.8, 0.2])
    np.testing.assert_allclose(names, [[0.75, 0.25], [0.5, 0.5]])
    tensor_names, tensor_whole = split_rejection(torch.from_numpy(probs), 2)
    np.testing.assert_allclose(tensor_names.numpy(), names)
    np.testing.assert_allclose(tensor_whole.numpy(), whole)
    _, every = split_rejection(probs[:, :2], 2)
    assert every.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="3 outputs"):
        split_rejection(probs, 1)


def test_namer_weights_round_trip_and_refuse_other_shapes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = CropClassifier(NamerConfig(widths=(8, 16, 32))).eval()
    path = save_namer(model, {"version": "test"}, tmp_path / "namer.safetensors")
    loaded, record = load_namer(path)
    crops = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(loaded(crops), model(crops))
    assert record["config"]["widths"] == [8, 16, 32] and record["version"] == "test"
    record_path = path.with_suffix(".json")
    stored = json.loads(record_path.read_text())
    stored["config"]["widths"] = [4, 16, 32]
    record_path.write_text(json.dumps(stored))
    with pytest.raises(WeightsError, match="does not match"):
        load_namer(path)


def test_an_ensemble_averages_its_classifiers_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    small, large = (
        CropClassifier(NamerConfig(widths=(8, 16, 32), crop_size=size)).eval() for size in (28, 36)
    )
    ensemble = NamerEnsemble([small, large]).eval()
    ink = torch.rand(2, 1, 64, 64)
    boxes, index = torch.tensor([[4.0, 4.0, 30.0, 40.0], [20.0, 10.0, 60.0, 50.0]]), torch.tensor([0, 1])
    expected = (small.box_probabilities(ink, boxes, index) + large.box_probabilities(ink, boxes, index)) / 2
    torch.testing.assert_close(ensemble.box_probabilities(ink, boxes, index), expected)
    path = save_namer(ensemble, {"version": "test"}, tmp_path / "ensemble.safetensors")
    loaded, record = load_namer(path)
    assert isinstance(loaded, NamerEnsemble)
    assert [member["crop_size"] for member in record["members"]] == [28, 36] and "config" not in record
    torch.testing.assert_close(loaded.box_probabilities(ink, boxes, index), expected)
    with pytest.raises(ValueError, match="two classifiers"):
        NamerEnsemble([small])


def test_namer_combine_writes_an_ensemble_of_trained_namers(tmp_path: Path) -> None:
    from digit_detector.cli import main

    paths = []
    for seed, size in ((0, 28), (1, 36)):
        torch.manual_seed(seed)
        classifier = CropClassifier(NamerConfig(widths=(8, 16, 32), crop_size=size)).eval()
        record = {"training": {"command": f"namer train --seed {seed}"}}
        paths.append(save_namer(classifier, record, tmp_path / f"namer-{seed}.safetensors"))
    out = tmp_path / "ensemble.safetensors"
    argv = ["namer", "combine", "--namers", *map(str, paths), "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    ensemble, record = load_namer(out)
    assert isinstance(ensemble, NamerEnsemble) and len(ensemble.classifiers) == 2
    members = record["training"]["members"]
    assert [member["command"] for member in members] == ["namer train --seed 0", "namer train --seed 1"]
    assert "namer combine" in record["training"]["command"]
    assert record["metrics"]["mnist_reserved_originals"]["boxes"] > 1000  # scored where it is used
    assert main(["namer", "combine", "--namers", str(paths[0]), "--out", str(out)]) == 2
    assert (
        main(["namer", "combine", "--namers", str(paths[0]), str(tmp_path / "nope"), "--out", str(out)]) == 2
    )


class FixedBackend:
    """Decoded rows for fixed boxes (model-input pixels) with an objectness and a detector class."""

    def __init__(self, rows: list[tuple[list[float], float, int]]) -> None:
        self.rows = rows

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        decoded = torch.zeros(batch.shape[0], len(self.rows), 17)
        for i, (box, objectness, class_id) in enumerate(self.rows):
            decoded[:, i, :4] = torch.tensor(box)
            decoded[:, i, 4] = objectness
            decoded[:, i, 5 + class_id] = 1.0
        return decoded


class FixedNamer:
    """Class probabilities per box, in the order of the first boxes it is asked about; a box asked about
    again (a crop of it scaled about its centre) gets the answer of the first box with its centre. Records
    the boxes of every call."""

    def __init__(self, probs: list[list[float]]) -> None:
        self.probs = torch.tensor(probs)
        self.seen: list[torch.Tensor] = []

    def __call__(self, images: object, boxes: object, image_index: object) -> object:
        """The answers of the boxes' kind, as every namer gives them (a tensor or a numpy array)."""
        self.seen.append(torch.as_tensor(boxes))
        if len(self.seen) == 1:
            answers = self.probs[: len(self.seen[0])]
        else:
            first, asked = self.seen[0], self.seen[-1]
            centres = (asked[:, :2] + asked[:, 2:]) / 2
            first_centres = (first[:, :2] + first[:, 2:]) / 2
            answers = self.probs[torch.cdist(centres, first_centres).argmin(dim=1)]
        return answers if isinstance(boxes, torch.Tensor) else answers.numpy()


def probs(**by_class: float) -> list[float]:
    row = [0.0] * 12
    for name, p in by_class.items():
        row[{"other": 11, "censored": 10}.get(name, int(name.strip("d")) if name.startswith("d") else 0)] = p
    return row


def test_the_namer_names_every_box_the_detector_finds() -> None:
    backend = FixedBackend(
        [
            ([20.0, 20.0, 60.0, 100.0], 0.95, 1),  # the detector's head says 1; the namer says 7
            ([100.0, 20.0, 140.0, 100.0], 0.9, 3),  # the namer hesitates: 4 or 9
            ([10.0, 150.0, 30.0, 170.0], 0.3, 2),  # objectness below the threshold: not shown
        ]
    )
    namer = FixedNamer([probs(d7=0.97, d1=0.03), probs(d4=0.55, d9=0.45)])
    detector = Detector(backend, METADATA, namer=namer)
    result = detector(np.full((192, 192), 255, dtype=np.uint8))
    assert [(d.label, d.runner_up) for d in result.detections] == [("7", None), ("4", "9")]
    assert result.detections[1].shown_label == "4 or 9"
    assert result.detections[0].score == pytest.approx(0.95 * 0.97)
    assert result.detections[1].runner_up_score == pytest.approx(0.9 * 0.45)
    assert result.number == "74"
    assert len(namer.seen[0]) == 2  # only the boxes above the objectness threshold are named
    record = result.to_json("x.png")["detections"][1]
    assert record["runner_up"] == "9" and record["objectness"] == pytest.approx(0.9)


def test_a_rejecting_namer_takes_what_is_not_one_object_off_its_objectness() -> None:
    """A box the namer calls "not one whole object" (its 13th output) falls under the threshold and goes;
    a whole one keeps its objectness, scaled by how sure the namer is that it is whole, and its name."""
    backend = FixedBackend(
        [
            ([20.0, 20.0, 60.0, 100.0], 0.95, 1),  # a digit
            ([100.0, 20.0, 180.0, 100.0], 0.9, 3),  # a box over two digits: the namer rejects it
        ]
    )
    namer = FixedNamer([[*probs(d7=0.9), 0.1], [*probs(d4=0.2), 0.8]])
    result = Detector(backend, METADATA, namer=namer)(np.full((192, 192), 255, dtype=np.uint8))
    assert [d.label for d in result.detections] == ["7"]
    assert result.detections[0].objectness == pytest.approx(0.95 * 0.9)
    assert result.detections[0].score == pytest.approx(0.95 * 0.9)  # objectness x P(7 | whole) = 1
    assert result.number == "7"


def test_a_hesitant_class_head_no_longer_hides_a_clear_object() -> None:
    """The one-stage rule scores objectness x best class probability; the namer's rule detects on
    objectness, so an object whose class the head splits three ways is still shown."""
    row = [48.0, 48.0, 120.0, 160.0]
    decoded = torch.zeros(1, 1, 17)
    decoded[0, 0, :4] = torch.tensor(row)
    decoded[0, 0, 4] = 0.9
    decoded[0, 0, 5 + 4], decoded[0, 0, 5 + 9], decoded[0, 0, 5 + 7] = 0.4, 0.35, 0.25
    canvas = np.full((192, 192), 255, dtype=np.uint8)
    one_stage = Detector(lambda batch: decoded, METADATA)
    assert one_stage(canvas).detections == []  # 0.9 x 0.4 < 0.5
    two_stage = Detector(lambda batch: decoded, METADATA, namer=FixedNamer([probs(d9=0.75, d4=0.25)]))
    assert [d.shown_label for d in two_stage(canvas).detections] == ["9 or 4"]


def test_a_box_spanning_two_touching_digits_gives_way_to_the_digits_the_namer_is_sure_of() -> None:
    """Containment weighs scores (objectness x the namer's probability): a box around `85` with the most
    objectness but a hesitant name goes, its two sure digits stay; a `5` that a too wide `8` box reaches
    into stays beside it; a sure `4` still hides its stem."""
    metadata = WeightsMetadata.from_dict({**METADATA.to_dict(), "containment_threshold": 0.5})
    canvas = np.full((192, 192), 255, dtype=np.uint8)
    touching = FixedBackend(
        [
            ([40.0, 44.0, 132.0, 100.0], 0.95, 8),  # both digits as one box
            ([48.0, 48.0, 84.0, 96.0], 0.9, 8),
            ([88.0, 48.0, 124.0, 96.0], 0.85, 5),
        ]
    )
    namer = FixedNamer([probs(d8=0.5, d5=0.3, d3=0.2), probs(d8=0.99), probs(d5=0.98)])
    result = Detector(touching, metadata, namer=namer)(canvas)
    assert result.number == "85" and len(result.detections) == 2
    all_classes = Detector(touching, metadata, namer=namer)(canvas, all_classes=True).detections
    assert {d.box for d in all_classes} == {d.box for d in result.detections}  # the same boxes go
    too_wide = FixedBackend([([40.0, 44.0, 100.0, 100.0], 0.9, 8), ([72.0, 44.0, 116.0, 100.0], 0.88, 5)])
    neighbour = Detector(too_wide, metadata, namer=FixedNamer([probs(d8=0.9), probs(d5=0.97)]))(canvas)
    assert neighbour.number == "85"  # the 5, 64 % inside the 8 box, sure and surer: a neighbour
    four = FixedBackend([([48.0, 48.0, 96.0, 120.0], 0.9, 4), ([60.0, 50.0, 70.0, 110.0], 0.8, 1)])
    stem = Detector(four, metadata, namer=FixedNamer([probs(d4=0.95), probs(d1=0.99)]))(canvas)
    assert [d.label for d in stem.detections] == ["4"]


class WidthNamer:
    """Names a box by its width: 20 px wide or less a sure `1`; wider a `7`, surer the wider it is."""

    def __call__(self, images: object, boxes: object, image_index: object) -> object:
        widths = torch.as_tensor(np.asarray(boxes))[:, 2] - torch.as_tensor(np.asarray(boxes))[:, 0]
        probs = torch.zeros(len(widths), 12)
        sevens = (widths / 100).clamp(max=1.0)
        probs[:, 7] = torch.where(widths <= 20, 0.0, sevens)
        probs[:, 1] = 1.0 - probs[:, 7]
        return probs if isinstance(boxes, torch.Tensor) else probs.numpy()


@pytest.mark.parametrize("kind", ["tensor", "numpy"])
def test_a_box_the_namer_is_unsure_of_is_named_again_from_scaled_crops(kind: str) -> None:
    boxes = np.array([[0.0, 0.0, 10.0, 40.0], [0.0, 0.0, 60.0, 40.0]], dtype=np.float32)  # sure; unsure (0.6)
    given = torch.from_numpy(boxes) if kind == "tensor" else boxes
    probs = np.asarray(name_probabilities(WidthNamer(), None, given))
    assert probs[0, 1] == 1.0  # sure: named once
    scales = (1.0, *(look.scale for look in UNSURE_LOOKS))  # a shift keeps the width the namer reads
    assert probs[1, 7] == pytest.approx(sum(min(60 * s / 100, 1.0) for s in scales) / len(scales))
    assert probs[1].sum() == pytest.approx(1.0)
    assert len(name_probabilities(WidthNamer(), None, given[:0])) == 0


class UnsureNamer:
    """Unsure of every box (0.5 / 0.5); records the boxes of each call."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def __call__(self, images: object, boxes: object, image_index: object) -> object:
        self.calls.append(np.asarray(boxes))
        probs = np.zeros((len(self.calls[-1]), 12), dtype=np.float32)
        probs[:, 1] = probs[:, 7] = 0.5
        return torch.from_numpy(probs) if isinstance(boxes, torch.Tensor) else probs


@pytest.mark.parametrize("kind", ["tensor", "numpy"])
def test_a_thin_unsure_box_keeps_the_two_scaled_looks(kind: str) -> None:
    boxes = np.array([[100.0, 50.0, 110.0, 150.0], [0.0, 0.0, 60.0, 80.0]], dtype=np.float32)  # thin; wide
    namer = UnsureNamer()
    given = torch.from_numpy(boxes) if kind == "tensor" else boxes
    probs = np.asarray(name_probabilities(namer, None, given))
    np.testing.assert_allclose(probs[:, [1, 7]], 0.5)
    first, *again = namer.calls
    np.testing.assert_array_equal(first, boxes)
    looked_at = {tuple(np.round(np.asarray(box), 3)) for call in again for box in call}
    thin = {tuple(np.round(np.asarray(look.of(boxes[:1]))[0], 3)) for look in THIN_BOX_LOOKS}
    wide = {tuple(np.round(np.asarray(look.of(boxes[1:]))[0], 3)) for look in UNSURE_LOOKS}
    assert looked_at == thin | wide
    assert sum(len(call) for call in again) == len(THIN_BOX_LOOKS) + len(UNSURE_LOOKS)


@pytest.mark.parametrize("kind", ["tensor", "numpy"])
def test_the_looks_at_an_unsure_box_scale_and_move_it(kind: str) -> None:
    box = np.array([[100.0, 50.0, 120.0, 90.0]], dtype=np.float32)  # 20 x 40: longer side 40
    given = torch.from_numpy(box) if kind == "tensor" else box
    crops = {look: np.asarray(look.of(given))[0].tolist() for look in UNSURE_LOOKS}
    assert crops[CropLook(scale=0.85)] == pytest.approx([101.5, 53.0, 118.5, 87.0])
    assert crops[CropLook(dx=0.06)] == pytest.approx([102.4, 50.0, 122.4, 90.0])
    assert crops[CropLook(dy=-0.06)] == pytest.approx([100.0, 47.6, 120.0, 87.6])
    assert [look.describe() for look in (CropLook(scale=1.15), CropLook(dy=-0.06), CropLook())] == [
        "1.15x",
        "6 % of its side up",
        "as found",
    ]


def test_all_classes_lists_each_box_once_per_class_for_map() -> None:
    backend = FixedBackend([([20.0, 20.0, 60.0, 100.0], 0.9, 1)])
    detector = Detector(backend, METADATA, namer=FixedNamer([probs(d7=0.6, d1=0.4)]))
    found = detector(np.full((192, 192), 255, dtype=np.uint8), score_threshold=0.01, all_classes=True)
    assert sorted((d.label, round(d.score, 3)) for d in found.detections) == [("1", 0.36), ("7", 0.54)]


def test_torch_namer_gives_probabilities_per_box() -> None:
    torch.manual_seed(0)
    namer = TorchNamer(CropClassifier(NamerConfig(widths=(8, 8, 8))), torch.device("cpu"))
    out = namer(
        torch.rand(2, 3, 192, 192),
        torch.tensor([[0.0, 0.0, 50.0, 80.0], [10, 10, 20, 20]]),
        torch.tensor([0, 1]),
    )
    assert out.shape == (2, 12)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2))
    # numpy boxes get numpy answers, as from the onnxruntime namer: the detector's rules run in numpy
    image = np.random.default_rng(0).random((1, 3, 192, 192), dtype=np.float32)
    box = np.array([[5.0, 5, 90, 60]], dtype=np.float32)
    answers = namer(image, box, np.zeros(1, dtype=np.int64))
    assert isinstance(answers, np.ndarray) and answers.shape == (1, 12)
    expected = namer(torch.from_numpy(image), torch.from_numpy(box), torch.zeros(1, dtype=torch.int64))
    torch.testing.assert_close(torch.from_numpy(answers), expected)


def test_folded_batch_norms_give_the_same_answers_and_leave_the_classifier_as_it_was(
    batch_norms_as_trained: Callable[[torch.nn.Module], None],
) -> None:
    torch.manual_seed(0)
    classifier = CropClassifier(NamerConfig(widths=(8, 16, 16), box_channel=True, rejects=True))
    batch_norms_as_trained(classifier)
    classifier.train()
    namer = BoxNamer(classifier)
    folded = folded_batch_norms(namer)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in namer.modules()) == 6 and classifier.training
    images = torch.rand(2, 3, 192, 192)
    boxes = torch.tensor([[10.0, 20.0, 60.0, 120.0], [100.0, 40.0, 130.0, 70.0], [5.0, 5.0, 25.0, 40.0]])
    image_index = torch.tensor([0, 1, 1])
    with torch.no_grad():
        expected = BoxNamer(classifier).eval()(images, boxes, image_index)
        torch.testing.assert_close(folded(images, boxes, image_index), expected, rtol=0, atol=1e-5)
        torch_namer = TorchNamer(classifier, torch.device("cpu"))
        torch.testing.assert_close(torch_namer(images, boxes, image_index), expected, rtol=0, atol=1e-5)


def write_bar_canvases(root: Path, split: str, count: int) -> None:
    """Canvases of one or two black bars each, labelled `1` (vertical) and `7` (horizontal)."""
    rng = np.random.default_rng(len(split) + count)
    for index in range(count):
        canvas = np.full((192, 192, 3), 255, dtype=np.uint8)
        ids, boxes = [], []
        for left in (20, 100)[: int(rng.integers(1, 3))]:
            top = int(rng.integers(10, 100))
            vertical = bool(rng.integers(2))
            box = [left, top, left + 12, top + 60] if vertical else [left, top, left + 60, top + 12]
            canvas[box[1] : box[3], box[0] : box[2]] = 0
            ids.append(1 if vertical else 7)
            boxes.append(box)
        write_sample(root, split, f"{index:03d}", canvas, np.array(ids), np.array(boxes, dtype=np.float64))


@pytest.mark.slow
def test_namer_train_learns_to_reject_from_a_detector_s_boxes(
    tmp_path: Path, random_tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`namer train --box-channel --rejects` end to end: boxes found by (random) detectors in the
    training canvases are learnt from, once per detector given, the classifier has both new shapes and is
    scored on the boxes found in the val split too. A context channel is added with --init, and another
    margin for it is refused; an edge channel is added while distilling from the start; a narrowed namer is
    grown back, and taught again by another (--teacher), and one that cuts other crops is refused as its
    teacher."""
    from digit_detector.cli import main
    from digit_detector.training.attach import namer_steps

    for split, count in (("train", 24), ("val", 8)):
        write_bar_canvases(tmp_path / "data", split, count)
    out = tmp_path / "namer.safetensors"
    code = main(
        [
            "namer", "train", "--data", str(tmp_path / "data"), "--no-mnist", "--box-channel", "--rejects",
            "--proposals", str(random_tiny_weights), str(DEFAULT_WEIGHTS),
            "--widths", "4", "8", "8", "--epochs", "1",
            "--batch-size", "16", "--workers", "1", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    model, record = load_namer(out)
    assert isinstance(model, CropClassifier) and model.config.box_channel and model.config.rejects
    assert record["metrics"]["val_found_boxes"]["boxes"] > 0  # how they are labelled: test above
    found = [
        len(proposal_crop_set([Detector.from_weights(path)], tmp_path / "data", "train", progress=False))
        for path in (random_tiny_weights, DEFAULT_WEIGHTS)
    ]
    true_boxes = sum(len(s.class_ids) for s in load_split(tmp_path / "data", "train").samples)
    assert found[1] > 0 and record["training"]["train_boxes"] == true_boxes + sum(found)
    versions = [
        Detector.from_weights(path).metadata.version for path in (random_tiny_weights, DEFAULT_WEIGHTS)
    ]
    assert record["training"]["proposals"] == versions
    assert namer_steps(record["training"])[-1]["command"].endswith(f"# boxes found by {', '.join(versions)}")
    tuned = tmp_path / "tuned.safetensors"
    args = [
        "namer",
        "train",
        "--data",
        str(tmp_path / "data"),
        "--no-mnist",
        "--epochs",
        "1",
        "--workers",
        "1",
    ]
    assert main([*args, "--init", str(out), "--context-margin", "0.75", "--out", str(tuned)]) == 0
    tuned_model, tuned_record = load_namer(tuned)
    assert isinstance(tuned_model, CropClassifier)
    assert tuned_model.config.input_channels == ("ink", "box", "context")
    assert tuned_model.config.context_margin == 0.75 and tuned_model.config.rejects
    steps = namer_steps(tuned_record["training"])
    assert [step["command"].split("--out ")[-1].split("  #")[0] for step in steps] == [str(out), str(tuned)]
    for margin in ("0", "nan", "5"):
        with pytest.raises(SystemExit) as refused:
            main([*args, "--init", str(out), "--context-margin", margin, "--out", str(tuned)])
        assert refused.value.code == 2
    again = tmp_path / "again.safetensors"
    assert main([*args, "--init", str(tuned), "--context-margin", "0.75", "--out", str(again)]) == 0
    assert main([*args, "--init", str(tuned), "--context-margin", "1.5", "--out", str(again)]) == 2
    assert "at margin 0.75" in capsys.readouterr().err
    edged = tmp_path / "edged.safetensors"  # a channel added and the start's answers kept while it learns
    assert main([*args, "--init", str(tuned), "--edge-channel", "--distill", "1", "--out", str(edged)]) == 0
    edged_model, _ = load_namer(edged)
    assert isinstance(edged_model, CropClassifier)
    assert edged_model.config.input_channels == ("ink", "box", "context", "edge")
    thin = tmp_path / "thin.safetensors"  # cut down to fewer channels, learning the whole start's answers
    narrowing = ["--init", str(edged), "--widths", "2", "4", "8", "--distill", "1", "--out", str(thin)]
    assert main([*args, *narrowing]) == 0
    thin_model, _ = load_namer(thin)
    assert isinstance(thin_model, CropClassifier) and thin_model.config.widths == (2, 4, 8)
    assert thin_model.config.input_channels == edged_model.config.input_channels
    grown = tmp_path / "grown.safetensors"  # grown back to more channels, learning the start's answers
    assert (
        main([*args, "--init", str(thin), "--widths", "4", "4", "8", "--distill", "1", "--out", str(grown)])
        == 0
    )
    grown_model, _ = load_namer(grown)
    assert isinstance(grown_model, CropClassifier) and grown_model.config.widths == (4, 4, 8)
    assert main([*args, "--init", str(thin), "--widths", "4", "2", "8", "--out", str(again)]) == 2
    assert "--widths" in capsys.readouterr().err  # wider and narrower at once
    taught = tmp_path / "taught.safetensors"  # the narrowed namer taught again by the whole one
    teaching = ["--init", str(thin), "--teacher", str(edged), "--distill", "1", "--out", str(taught)]
    assert main([*args, *teaching]) == 0
    taught_model, taught_record = load_namer(taught)
    assert isinstance(taught_model, CropClassifier) and taught_model.config == thin_model.config
    assert f"--teacher {edged}" in taught_record["training"]["command"]
    other_crops = ["--init", str(thin), "--teacher", str(out), "--distill", "1", "--out", str(again)]
    assert main([*args, *other_crops]) == 2
    assert "cannot teach this namer, it cuts other crops: its input_channels is" in capsys.readouterr().err


@pytest.mark.slow
def test_namer_train_learns_the_train_splits_of_extra_datasets_too(tmp_path: Path) -> None:
    """`namer train --extra-data`: the true boxes of every dataset's train split are learnt, and with
    --rejects the boxes the detector finds in each; the record names the extra datasets."""
    from digit_detector.cli import main

    for root, count in (("data", 12), ("more", 10)):
        write_bar_canvases(tmp_path / root, "train", count)
    write_bar_canvases(tmp_path / "data", "val", 6)
    out = tmp_path / "namer.safetensors"
    code = main(
        [
            "namer", "train", "--data", str(tmp_path / "data"), "--extra-data", str(tmp_path / "more"),
            "--no-mnist", "--rejects", "--proposals", str(DEFAULT_WEIGHTS), "--widths", "4", "8", "8",
            "--epochs", "1", "--batch-size", "16", "--workers", "1", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    record = load_namer(out)[1]["training"]
    detector = Detector.from_weights(DEFAULT_WEIGHTS)
    expected = 0
    for root in ("data", "more"):
        expected += sum(len(s.class_ids) for s in load_split(tmp_path / root, "train").samples)
        expected += len(proposal_crop_set([detector], tmp_path / root, "train", progress=False))
    assert record["train_boxes"] == expected
    assert record["extra_data"] == [str(tmp_path / "more")]


@pytest.mark.slow
def test_namer_train_learns_the_boxes_find_boxes_found(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, random_tiny_weights: Path
) -> None:
    """`namer find-boxes` then `namer train --rejects --found-boxes`: the boxes two detectors found, learnt
    without the detectors (as many as `--proposals` gives), their versions recorded; the weights are
    written after every epoch, and the finished run's record is not partial."""
    from digit_detector.cli import main

    data = tmp_path / "data"
    write_bar_canvases(data, "train", 12)
    write_bar_canvases(data, "val", 6)
    found_file = tmp_path / "found.npz"
    detectors = [str(random_tiny_weights), str(DEFAULT_WEIGHTS)]
    code = main(
        [
            "namer", "find-boxes", "--data", str(data), "--proposals", *detectors, "--workers", "1",
            "--out", str(found_file),
        ]
    )  # fmt: skip
    assert code == 0 and "val:" in capsys.readouterr().out
    common = [
        "namer", "train", "--data", str(data), "--no-mnist", "--rejects", "--widths", "4", "8", "8",
        "--epochs", "2", "--batch-size", "16", "--workers", "1",
    ]  # fmt: skip
    out = tmp_path / "namer.safetensors"
    assert main([*common, "--found-boxes", str(found_file), "--out", str(out)]) == 0
    record = load_namer(out)[1]
    versions = [Detector.from_weights(path).metadata.version for path in detectors]
    assert record["training"]["proposals"] == versions and "partial" not in record["training"]
    assert record["training"]["epochs"] == 2 and record["metrics"]["val_found_boxes"]["boxes"] > 0
    found_there = tmp_path / "found-there.safetensors"
    assert main([*common, "--proposals", *detectors, "--out", str(found_there)]) == 0
    assert record["training"]["train_boxes"] == load_namer(found_there)[1]["training"]["train_boxes"]
    # the boxes of other canvases, or a file of another kind, are refused before any training
    write_bar_canvases(tmp_path / "other", "train", 12)
    write_bar_canvases(tmp_path / "other", "val", 7)
    capsys.readouterr()
    other = [*common[:3], str(tmp_path / "other"), *common[4:]]
    assert main([*other, "--found-boxes", str(found_file), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "found in other canvases" in capsys.readouterr().err
    assert main([*common, "--found-boxes", str(out), "--out", str(tmp_path / "y.safetensors")]) == 2
    assert "not a found-boxes file" in capsys.readouterr().err
    without = [arg for arg in common if arg != "--rejects"]
    assert main([*without, "--found-boxes", str(found_file), "--out", str(tmp_path / "z.safetensors")]) == 2
    assert "add --rejects" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("x.safetensors", "y.safetensors", "z.safetensors"))


def test_namer_train_rejects_only_from_canvases(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from digit_detector.cli import main

    code = main(["namer", "train", "--mnist-only", "--rejects", "--out", str(tmp_path / "o.safetensors")])
    assert code == 2 and "give --data" in capsys.readouterr().err


def test_namer_train_names_a_proposal_file_it_cannot_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, random_tiny_weights: Path
) -> None:
    from digit_detector.cli import main

    write_bar_canvases(tmp_path / "data", "train", 2)
    missing = tmp_path / "missing.safetensors"
    code = main(
        [
            "namer", "train", "--data", str(tmp_path / "data"), "--rejects",
            "--proposals", str(random_tiny_weights), str(missing), "--out", str(tmp_path / "o.safetensors"),
        ]
    )  # fmt: skip
    assert code == 2 and f"cannot find boxes with {missing}" in capsys.readouterr().err


def test_attach_takes_given_thresholds_and_records_the_test_report(
    tmp_path: Path, random_tiny_weights: Path
) -> None:
    from digit_detector.training.attach import attach_namer
    from digit_detector.weights import load_weights

    for split in ("val", "test"):
        write_bar_canvases(tmp_path / "data", split, 4)
    namer = save_namer(CropClassifier(NamerConfig(widths=(4, 8, 8))).eval(), {}, tmp_path / "n.safetensors")
    weights, namer_path = attach_namer(
        random_tiny_weights,
        namer,
        tmp_path / "data",
        tmp_path / "out",
        command="attach X",
        thresholds=(0.4, 0.7),
    )
    _, metadata = load_weights(weights)
    assert (metadata.score_threshold, metadata.containment_threshold) == (0.4, 0.7)
    assert metadata.namer == namer_path.name and metadata.training["chain"][-1]["command"] == "attach X"
    assert metadata.metrics["test"]["score_threshold"] == 0.4
    with pytest.raises(ValueError, match="from 0 to 1"):
        attach_namer(
            random_tiny_weights, namer, tmp_path / "data", tmp_path / "o2", command="", thresholds=(2, 0.5)
        )

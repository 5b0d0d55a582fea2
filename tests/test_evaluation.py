"""The ship evaluation: metrics on known detections, the report files and the eval command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from digit_detector.classes import OTHER_ID
from digit_detector.cli import main as cli_main
from digit_detector.data.yolo_format import (
    Sample,
    append_meta,
    canvas_layouts,
    digit_sources,
    load_split,
    object_pen_widths,
    split_breakdowns,
    write_sample,
)
from digit_detector.detector import Detection, Detector
from digit_detector.evaluation.files import save_report
from digit_detector.evaluation.predictions import match_detections
from digit_detector.evaluation.report import EvalReport
from digit_detector.evaluation.scoring import evaluate
from digit_detector.evaluation.thresholds import (
    choose_containment_threshold,
    choose_reading_thresholds,
    choose_score_threshold,
)
from digit_detector.models import DEFAULT_ANCHORS
from digit_detector.weights import WeightsMetadata


def main(argv: list[str]) -> int:
    return cli_main(["eval", *argv])


Row = tuple[list[float], int, float]  # box (model-input pixels), class id, score

# 192x192 canvases: model-input pixels are image pixels.
Labels = tuple[str, list[int], list[list[float]]]  # stem, class ids, boxes
SINGLE: Labels = ("a_single", [3], [[40.0, 40.0, 90.0, 120.0]])
NUMBER: Labels = ("b_number", [4, 2], [[20.0, 50.0, 60.0, 110.0], [80.0, 50.0, 120.0, 110.0]])
BLANK: Labels = ("c_blank", [], [])
OTHER: Labels = ("d_other", [OTHER_ID], [[30.0, 30.0, 150.0, 150.0]])
IMAGES = (SINGLE, NUMBER, BLANK, OTHER)
# a report's readings by layout: one layout with numbers to read, one with nothing (left out of tables)
LAYOUT_READINGS = {
    "number": {"single_digit": {"images": 0, "top1": None}, "numbers": {"images": 4, "accuracy": 0.75}},
    "empty": {"single_digit": {"images": 0, "top1": None}, "numbers": {"images": 0, "accuracy": None}},
}


class SequenceBackend:
    """Stands in for a model: the i-th call 'sees' the i-th list of rows (one call per image)."""

    def __init__(self, per_image: list[list[Row]]) -> None:
        self.per_image = per_image
        self.calls = 0

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        rows = self.per_image[self.calls]
        self.calls += 1
        decoded = torch.zeros(batch.shape[0], max(len(rows), 1), 17)
        for i, (box, class_id, score) in enumerate(rows):
            decoded[:, i, :4] = torch.tensor(box)
            decoded[:, i, 4] = score
            decoded[:, i, 5 + class_id] = 1.0
        return decoded


def make_detector(per_image: list[list[Row]]) -> Detector:
    metadata = WeightsMetadata.from_dict(
        {"model": {"name": "yolov3-tiny", "width": 0.5, "anchors": DEFAULT_ANCHORS}, "score_threshold": 0.5}
    )
    return Detector(SequenceBackend(per_image), metadata)


def write_dataset(root: Path, split: str = "test") -> list[Sample]:
    for stem, class_ids, boxes in IMAGES:
        canvas = np.full((192, 192, 3), 255, dtype=np.uint8)
        for x1, y1, x2, y2 in boxes:
            canvas[int(y1) : int(y2), int(x1) : int(x2)] = 0  # labels are the tight extent of the ink
        write_sample(
            root, split, stem, canvas, np.asarray(class_ids, dtype=np.int64), np.asarray(boxes).reshape(-1, 4)
        )
    contents = load_split(root, split)
    assert not contents.problems
    return contents.samples


def perfect_rows(score: float = 0.9) -> list[list[Row]]:
    return [[(box, c, score) for c, box in zip(ids, boxes, strict=True)] for _, ids, boxes in IMAGES]


@pytest.fixture()
def samples(tmp_path: Path) -> list[Sample]:
    return write_dataset(tmp_path / "data")


@pytest.fixture()
def bad_report(samples: list[Sample]) -> EvalReport:
    rows = perfect_rows()
    rows[0] = [(SINGLE[2][0], 5, 0.9)]  # the 3 read as a 5
    rows[1] = [(NUMBER[2][0], 4, 0.9), (NUMBER[2][1], 7, 0.8)]  # "47", not "42"
    rows[2] = [([60.0, 60.0, 100.0, 100.0], 7, 0.8)]  # a 7 on the blank canvas
    rows[3] = [(OTHER[2][0], 1, 0.9)]  # the drawing taken for a 1
    return evaluate(make_detector(rows), samples, progress=False)


def test_perfect_detections_score_perfectly(samples: list[Sample]) -> None:
    detector = make_detector(perfect_rows())
    report = evaluate(detector, samples, progress=False)
    assert detector.backend.calls == len(samples)  # type: ignore[attr-defined]  # the model ran once per image
    assert report.map50 == pytest.approx(1.0) and report.map50_95 == pytest.approx(1.0)
    assert report.map50_agnostic == pytest.approx(1.0)
    assert report.single_digit_top1 == 1.0 and report.single_digit_images == 1
    assert report.number_accuracy == 1.0 and report.number_images == 1
    assert (report.blank_images, report.blank_with_detection) == (1, 0)
    assert (report.other_boxes, report.other_taken_rate) == (1, 0.0)
    assert (report.precision, report.recall) == (1.0, 1.0)
    assert report.ap50_per_class["3"] == pytest.approx(1.0) and report.ap50_per_class["0"] is None
    assert np.trace(report.confusion_matrix) == 4 == report.confusion_matrix.sum()
    assert report.ships and not report.worst


def test_mistakes_lower_the_scores_and_fill_the_confusion_matrix(bad_report: EvalReport) -> None:
    report = bad_report
    assert report.map50 == pytest.approx(0.25)  # only the 4 of 4 classes found
    assert report.single_digit_top1 == 0.0 and report.number_accuracy == 0.0
    matrix = report.confusion_matrix
    assert matrix[3, 5] == 1 and matrix[2, 7] == 1 and matrix[4, 4] == 1
    assert matrix[OTHER_ID, 1] == 1
    assert matrix[12, 7] == 1  # the blank canvas' 7 is a false positive (background row)
    assert (report.blank_with_detection, report.other_taken_for_digit, report.other_taken_rate) == (1, 1, 1.0)
    assert (report.true_positives, report.wrong_class, report.false_positives, report.missed) == (1, 3, 1, 0)
    assert not report.ships
    assert {e.image_path.stem for e in report.worst} == {"a_single", "b_number", "c_blank", "d_other"}
    assert report.targets()["blank canvases with a detection"]["pass"] is False


def test_digits_are_counted_by_their_source(tmp_path: Path) -> None:
    root = tmp_path / "data"
    samples = write_dataset(root)
    relative = {sample.image_path.stem: str(sample.image_path.relative_to(root)) for sample in samples}
    digit = {"class_id": 3, "source": {"kind": "mnist"}}
    number = [
        {"class_id": 4, "source": {"kind": "font"}},
        {"class_id": 9, "dropped": True, "source": {"kind": "mnist"}},  # augmented away: no label
        {"class_id": 2, "source": {"kind": "font"}},
    ]
    other = {"class_id": OTHER_ID, "source": {"kind": "shape"}}
    objects = {"a_single": [digit], "b_number": number, "c_blank": [], "d_other": [other]}
    append_meta(root, "test", [{"image": relative[stem], "objects": objs} for stem, objs in objects.items()])
    rows = perfect_rows()
    rows[1] = [(NUMBER[2][0], 4, 0.9), (NUMBER[2][1], 7, 0.8)]  # the font 2 read as a 7
    report = evaluate(make_detector(rows), samples, progress=False, sources=digit_sources(root, "test"))
    assert set(report.by_source) == {"mnist", "font"}  # non-digits are not counted
    mnist, font = report.by_source["mnist"], report.by_source["font"]
    assert (mnist.boxes, mnist.correct, mnist.single_digit_top1, mnist.number_images) == (1, 1, 1.0, 0)
    assert (font.boxes, font.correct, font.wrong_class, font.missed) == (2, 1, 1, 0)
    assert (font.number_images, font.number_accuracy) == (1, 0.0)
    assert report.to_dict()["digits_by_source"]["font"]["named"] == 0.5
    assert any(line.startswith("digits from font: 50.0 %") for line in report.summary_lines())
    breakdowns = split_breakdowns(root, "test")  # one read of the metadata: the same as each reader's
    assert breakdowns["sources"] == digit_sources(root, "test")
    assert breakdowns["sources"][samples[1].image_path.resolve()] == ["font", "font"]  # no dropped 9
    assert breakdowns["pens"] == object_pen_widths(root, "test")
    assert breakdowns["layouts"] == canvas_layouts(root, "test") == {}  # no layout in these records


def test_canvases_are_counted_by_their_layout(tmp_path: Path) -> None:
    root = tmp_path / "data"
    samples = write_dataset(root)
    layouts = {"a_single": "single_digit", "b_number": "number", "c_blank": "empty"}  # d_other: none given
    records = []
    for sample in samples:
        record: dict[str, Any] = {"image": str(sample.image_path.relative_to(root)), "objects": []}
        if sample.image_path.stem in layouts:
            record["layout"] = layouts[sample.image_path.stem]
        records.append(record)
    append_meta(root, "test", records)
    found = canvas_layouts(root, "test")
    assert sorted(found.values()) == ["empty", "number", "single_digit"]  # a record without one is left out
    rows = perfect_rows()
    rows[1] = [(NUMBER[2][0], 4, 0.9), (NUMBER[2][1], 7, 0.8)]  # the number "42" read "47"
    report = evaluate(make_detector(rows), samples, progress=False, layouts=found)
    number, single = report.by_layout["number"], report.by_layout["single_digit"]
    assert (number.number_images, number.number_accuracy, number.single_digit_images) == (1, 0.0, 0)
    assert (single.single_digit_images, single.single_digit_top1, single.number_images) == (1, 1.0, 0)
    assert report.to_dict()["readings_by_layout"]["number"]["numbers"] == {"images": 1, "accuracy": 0.0}
    assert "numbers read exactly by layout: number 0.0 % of 1" in report.summary_lines()
    assert not evaluate(make_detector(rows), samples, progress=False).by_layout  # no layouts: no breakdown


def test_missed_boxes_and_low_scores(samples: list[Sample]) -> None:
    rows = perfect_rows()
    rows[1] = [(NUMBER[2][0], 4, 0.9), (NUMBER[2][1], 2, 0.3)]  # the 2 below the 0.5 threshold
    rows[0] = []  # nothing found on the single digit
    report = evaluate(make_detector(rows), samples, progress=False)
    assert report.single_digit_top1 == 0.0 and report.number_accuracy == 0.0
    assert report.confusion_matrix[3, 12] == 1 and report.confusion_matrix[2, 12] == 1
    assert report.ap50_per_class["2"] == pytest.approx(1.0)  # still ranked first at the low threshold
    assert report.recall == pytest.approx(2 / 4)


def test_matching_prefers_the_same_class() -> None:
    gt_boxes = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0]])
    detections = [Detection("7", 7, 0.9, (1.0, 0.0, 11.0, 10.0)), Detection("1", 1, 0.8, (0, 0, 10, 10))]
    matching = match_detections([7, 1], gt_boxes, detections)
    assert sorted(matching.pairs) == [(0, 0), (1, 1)]  # the 7 takes the 7 although the 1 fits it better
    assert matching.outcome == ["correct", "correct"] and not matching.missed


def test_threshold_rule_avoids_blank_canvas_detections(samples: list[Sample]) -> None:
    rows = perfect_rows()
    rows[2] = [([60.0, 60.0, 100.0, 100.0], 7, 0.3)]
    threshold = choose_score_threshold(make_detector(rows), samples)
    assert 0.3 < threshold <= 0.9


def test_containment_is_chosen_when_parts_of_objects_are_read_as_objects(samples: list[Sample]) -> None:
    rows = perfect_rows()
    stem = [45.0, 45.0, 60.0, 115.0]  # a thin box inside the single 3: its stroke read as a 1
    rows[0] = [*rows[0], (stem, 1, 0.95)]
    detector = make_detector(rows)
    assert choose_containment_threshold(detector, samples) is not None
    detector = make_detector(rows)
    detector.containment_threshold = 0.8
    report = evaluate(detector, samples, progress=False)
    assert report.single_digit_top1 == 1.0 and report.false_positives == 0
    assert report.to_dict()["containment_threshold"] == 0.8


def test_containment_stays_off_when_nothing_is_inside_anything(samples: list[Sample]) -> None:
    assert choose_containment_threshold(make_detector(perfect_rows()), samples) is None


def test_save_report_writes_every_file(bad_report: EvalReport, tmp_path: Path) -> None:
    out = save_report(bad_report, tmp_path / "report")
    record = json.loads((out / "report.json").read_text())
    assert record["ships"] is False and record["images"] == 4
    assert len(record["confusion_matrix"]["matrix"]) == 13 and record["blank"]["with_detection"] == 1
    assert set(record["targets"]) >= {"mAP@0.5", "mAP@0.5:0.95", "single-digit top-1"}
    assert len(record["worst_images"]) == 4
    for name in ("confusion_matrix.png", "pr_curves.png", "worst_errors.png"):
        with Image.open(out / name) as image:
            assert image.width > 100 and image.height > 50
    lines = bad_report.summary_lines()
    assert any("mAP@0.5 " in line for line in lines) and lines[-1].startswith("SHIPS: no")


def test_eval_command_on_a_tiny_dataset(
    random_tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    write_dataset(data)
    out = tmp_path / "report"
    argv = ["--data", str(data), "--weights", str(random_tiny_weights), "--out", str(out), "--device", "cpu"]
    assert main([*argv, "--limit", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "SHIPS: no" in printed and str(out / "report.json") in printed
    assert json.loads((out / "report.json").read_text())["images"] == 3
    assert all((out / name).stat().st_size > 0 for name in ("pr_curves.png", "worst_errors.png"))
    assert main([*argv, "--require-targets", "--quiet", "--score", "0.9"]) == 1
    assert main(["--data", str(tmp_path / "nothing"), "--weights", str(random_tiny_weights)]) == 2


def test_eval_records_the_report_in_the_weights_own_record(
    random_tiny_weights: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digit_detector.weights import load_weights

    data = tmp_path / "data"
    write_dataset(data)
    weights = tmp_path / "weights" / random_tiny_weights.name
    shutil.copytree(random_tiny_weights.parent, weights.parent)
    tensors = weights.read_bytes()
    argv = ["--data", str(data), "--weights", str(weights), "--out", str(tmp_path / "report"), "--quiet"]
    assert main([*argv, "--record", "--score", "0.2"]) == 2  # not the weights' own settings
    assert "leave out --score" in capsys.readouterr().err
    asked: list[object] = []
    from_weights = Detector.from_weights

    def recording(*args: Any, **options: Any) -> Detector:
        asked.append(options.get("precision"))
        return from_weights(*args, **options)

    monkeypatch.setattr(Detector, "from_weights", recording)
    assert main([*argv, "--record"]) == 0
    assert asked == ["float32"]  # the weights' own report reads the same on every machine
    _, metadata = load_weights(weights)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert metadata.metrics["test"] == report and report["images"] == len(IMAGES)
    last = metadata.training["chain"][-1]
    assert last["stage"] == "eval" and last["command"].endswith(" ".join(["eval", *argv, "--record"]))
    assert weights.read_bytes() == tensors  # the tensors stay as they are


def test_eval_on_onnxruntime_measures_what_torch_measures(
    random_tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    write_dataset(data)
    weights = tmp_path / "weights" / random_tiny_weights.name  # the ONNX file is exported beside it
    shutil.copytree(random_tiny_weights.parent, weights.parent)
    reports = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        argv = ["--data", str(data), "--weights", str(weights), "--out", str(out), "--score", "0.01"]
        assert main([*argv, "--backend", backend, "--precision", "float32", "--quiet"]) == 0
        reports[backend] = json.loads((out / "report.json").read_text())
    assert weights.with_suffix(".onnx").is_file()
    assert reports["onnx"]["images"] == reports["torch"]["images"] == len(IMAGES)
    for name in ("mAP@0.5", "mAP@0.5:0.95"):
        assert reports["onnx"]["targets"][name]["value"] == pytest.approx(
            reports["torch"]["targets"][name]["value"], abs=1e-3
        )
    with pytest.raises(SystemExit) as refused:
        main(["--data", str(data), "--weights", str(weights), "--backend", "tflite"])
    assert refused.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err


def test_metadata_that_disagrees_with_the_labels_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "data"
    samples = write_dataset(root)
    two = [{"class_id": 3, "source": {"kind": "mnist"}}] * 2
    append_meta(root, "test", [{"image": str(samples[0].image_path.relative_to(root)), "objects": two}])
    with pytest.raises(ValueError, match="metadata lists 2 objects but the labels have 1"):
        evaluate(make_detector(perfect_rows()), samples, progress=False, sources=digit_sources(root, "test"))


def test_model_card_comes_from_the_weights_report(random_tiny_weights: Path, tmp_path: Path) -> None:
    from digit_detector.weights import load_weights, save_weights

    model, metadata = load_weights(random_tiny_weights)
    metadata.metrics["test"] = {
        "images": 7,
        "targets": {"single-digit top-1": {"value": 0.9123, "goal": ">= 0.97", "pass": False}},
        "recall_by_bucket": {"size": {"large": {"boxes": 3, "found": 1.0, "named": 0.6667}}},
        "readings_by_layout": LAYOUT_READINGS,
    }
    metadata.training["chain"] = [{"command": "python -m digit_detector train A"}, {"command": "attach B"}]
    weights = save_weights(model, metadata, tmp_path / "w.safetensors")
    out = tmp_path / "card.md"
    assert cli_main(["card", "--weights", str(weights), "--out", str(out)]) == 0
    card = out.read_text()
    assert "| single-digit top-1 | 91.2 % | >= 0.97 | **no** |" in card
    assert "| size | large | 3 | 100.0 % | 66.7 % |" in card
    assert "| number | 0 | — | 4 | 75.0 % |" in card and "| empty |" not in card  # nothing to read there
    assert "1. `python -m digit_detector train A`" in card and "2. `attach B`" in card


class BoxNamer:
    """Names each box by the class the test's rows gave it (a perfect second stage)."""

    def __init__(self, per_image: list[list[Row]]) -> None:
        self.names = {tuple(box): class_id for rows in per_image for box, class_id, _ in rows}

    def __call__(self, images: object, boxes: object, image_index: object) -> object:
        """The answers of the boxes' kind, as every namer gives them (a tensor or a numpy array)."""
        given = np.asarray(boxes)
        probs = np.zeros((len(given), 12), dtype=np.float32)
        for row, box in enumerate(given.tolist()):
            probs[row, self.names[tuple(box)]] = 1.0
        return torch.from_numpy(probs) if isinstance(boxes, torch.Tensor) else probs


def test_second_stage_thresholds_keep_blank_canvases_empty_and_answer_unsure_digits(
    samples: list[Sample],
) -> None:
    rows = perfect_rows()
    rows[0] = [(SINGLE[2][0], 3, 0.45)]  # a clear digit the detector is unsure is there at all
    rows[2] = [([60.0, 60.0, 100.0, 100.0], 7, 0.3)]  # a stray box on the blank canvas
    detector = make_detector(rows)
    detector.namer = BoxNamer(rows)
    threshold, containment = choose_reading_thresholds(detector, samples)
    assert 0.3 < threshold <= 0.45 and containment is None  # ties: the lowest, the gentlest


def test_second_stage_thresholds_read_more_where_f1_is_flat(tmp_path: Path) -> None:
    """Among thresholds of nearly equal F1 (many clean canvases), the pair that reads the number and the
    lone digit right: above a stray box after the number, with the stem inside a 3 dropped."""
    root = tmp_path / "data"
    write_dataset(root, "val")
    clean = 150  # one extra box moves F1 by less than SHOWN_F1_TOLERANCE
    for index in range(clean):
        canvas = np.full((192, 192, 3), 255, dtype=np.uint8)
        canvas[40:120, 40:90] = 0
        write_sample(root, "val", f"e_{index:03d}", canvas, np.asarray([3]), np.asarray([SINGLE[2][0]]))
    samples = load_split(root, "val").samples
    rows = perfect_rows() + [[(SINGLE[2][0], 3, 0.9)]] * clean
    rows[1] = [*rows[1], ([130.0, 50.0, 150.0, 110.0], 7, 0.3)]  # "427" below 0.3
    rows[0] = [*rows[0], ([45.0, 45.0, 60.0, 115.0], 1, 0.95)]  # the 3's stroke named 1, and surer
    detector = make_detector(rows)
    detector.namer = BoxNamer(rows)
    threshold, containment = choose_reading_thresholds(detector, samples)
    assert threshold > 0.3 and containment is not None
    detector.score_threshold, detector.containment_threshold = threshold, containment
    detector.backend.calls = 0
    report = evaluate(detector, samples, progress=False)
    assert report.number_accuracy == 1.0 and report.single_digit_top1 == 1.0

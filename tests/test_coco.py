"""COCO export of a dataset split and the COCO reader."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from digit_detector.classes import CLASS_NAMES
from digit_detector.cli.data import add_export_coco_parser as add_parser
from digit_detector.data.coco import (
    CATEGORY_ID_OFFSET,
    CocoFormatError,
    class_id_for_name,
    export_coco,
    parse_number,
    read_coco,
)
from digit_detector.data.yolo_format import write_sample


def _image(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 255, dtype=np.uint8)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    write_sample(
        root,
        "train",
        "a",
        _image(200, 100),
        np.array([4, 10]),
        np.array([[10, 20, 40, 60], [100, 0, 200, 100]]),
    )
    write_sample(root, "train", "b", _image(64, 64), np.array([], dtype=np.int64), np.zeros((0, 4)))
    write_sample(root, "val", "c", _image(50, 50), np.array([11]), np.array([[1, 2, 3, 4]]))
    return root


def test_export_structure(dataset: Path, tmp_path: Path) -> None:
    path, count, problems = export_coco(dataset, "train", tmp_path / "train.json")
    assert (count, problems) == (2, [])
    doc = json.loads(path.read_text())
    assert [c["id"] for c in doc["categories"]] == list(range(1, 13))
    assert [c["name"] for c in doc["categories"]] == list(CLASS_NAMES)
    images = {i["file_name"]: i for i in doc["images"]}
    assert images["a.png"]["width"] == 200 and images["a.png"]["height"] == 100
    anns = [a for a in doc["annotations"] if a["image_id"] == images["a.png"]["id"]]
    assert [a["category_id"] for a in anns] == [4 + CATEGORY_ID_OFFSET, 10 + CATEGORY_ID_OFFSET]
    np.testing.assert_allclose([a["bbox"] for a in anns], [[10, 20, 30, 40], [100, 0, 100, 100]], atol=0.01)
    np.testing.assert_allclose([a["area"] for a in anns], [1200, 10000], rtol=1e-3)
    assert all(a["iscrowd"] == 0 for a in anns)
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"])
    assert Path(doc["info"]["images_dir"]) == (dataset / "images" / "train").resolve()


def test_export_reports_bad_label_file(dataset: Path, tmp_path: Path) -> None:
    (dataset / "labels" / "train" / "b.txt").write_text("3 0.5 0.5\n")
    _, count, problems = export_coco(dataset, "train", tmp_path / "train.json")
    assert count == 1
    assert [p.path.name for p in problems] == ["b.png"]
    assert "line 1" in problems[0].reason


def test_read_coco_round_trip(dataset: Path, tmp_path: Path) -> None:
    path, _, _ = export_coco(dataset, "train", tmp_path / "train.json")
    coco = read_coco(path)
    assert coco.problems == []
    by_name = {i.file_name: i for i in coco.images}
    assert [coco.categories[c] for c in by_name["a.png"].category_ids] == ["4", "censored"]
    np.testing.assert_allclose(by_name["a.png"].boxes, [[10, 20, 30, 40], [100, 0, 100, 100]], atol=0.01)
    assert by_name["b.png"].boxes == []


def test_read_coco_problems(tmp_path: Path) -> None:
    doc = {
        "images": [{"id": 1, "file_name": "x.png", "width": 10, "height": 10}, {"file_name": "noid.png"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 2, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, "a", 2]},
        ],
        "categories": [{"id": 1, "name": "7"}],
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    coco = read_coco(path)
    reasons = " | ".join(p.reason for p in coco.problems)
    assert "unknown image id 99" in reasons and "images[1]" in reasons
    assert len(coco.images) == 1 and coco.images[0].boxes == [[1.0, 1.0, 2.0, 2.0]]
    assert "annotations[2]" in coco.images[0].errors[0]


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"annotations": []}', '{"images": [], "categories": [{}]}']
)
def test_read_coco_rejects_non_coco(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CocoFormatError):
        read_coco(path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("4", 4),
        (" Censored ", 10),
        ("other", 11),
        ("10", 10),
        ("11", 11),
        ("12", None),
        ("04", None),
        ("cat", None),
        ("+1", None),
        ("1_0", None),
        ("٧", None),
        ("１", None),  # a fullwidth digit
        ("1.0", None),
        ("9" * 5000, None),  # int() would raise over 4300 digits
    ],
)
def test_class_id_for_name(name: str, expected: int | None) -> None:
    assert class_id_for_name(name) == expected


def test_cli(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    out = tmp_path / "val.json"
    args = parser.parse_args(["export-coco", str(dataset), "--split", "val", "--out", str(out)])
    assert args.func(args) == 0
    assert len(json.loads(out.read_text())["images"]) == 1
    args = parser.parse_args(["export-coco", str(dataset), "--split", "test", "--out", str(out)])
    assert args.func(args) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["export-coco", "--help"])


@pytest.mark.parametrize(
    "value", ["1_0", "٣", "inf", "nan", "0x10", "", " ", True, None, [1], float("inf"), 10**400]
)
def test_parse_number_refuses_what_float_would_take(value: object) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_number(value)


@pytest.mark.parametrize(
    ("value", "expected"), [(" 2.5 ", 2.5), ("-3", -3.0), ("1e-3", 0.001), (".5", 0.5), (7, 7.0)]
)
def test_parse_number(value: object, expected: float) -> None:
    assert parse_number(value) == expected


def test_read_coco_survives_hostile_values(tmp_path: Path) -> None:
    doc = {
        "images": [
            {"id": 1, "file_name": "x.png", "width": 1e308 * 10, "height": "10"},
            {"id": [1], "file_name": "list-id.png"},
            {"id": 3, "file_name": {"a": 1}},
        ],
        "annotations": [
            {"id": 1, "image_id": [1], "category_id": 1, "bbox": [1, 1, 2, 2]},
            {"id": 2, "image_id": 1, "category_id": {"x": 1}, "bbox": [1, 1, 2, 2]},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]},
        ],
        "categories": [{"id": 1, "name": "7"}],
    }
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))  # json writes Infinity for the width
    coco = read_coco(path)
    (image,) = coco.images
    assert (image.width, image.height) == (None, 10)
    reasons = " | ".join(p.reason for p in coco.problems)
    assert "images[1]: 'id' must be a number or string" in reasons and "images[2]" in reasons
    assert "annotations[0] refers to unknown image id [1]" in reasons
    assert image.errors == ["annotations[1]: category_id {'x': 1} is not a number"]
    assert image.category_ids == [1]
    for bad in ('{"images": [], "categories": [{"id": [1], "name": "7"}]}', "[" * 100_000, "1" * 5000):
        path.write_text(bad)
        with pytest.raises(CocoFormatError, match=f"^{path}: "):
            read_coco(path)


def test_read_coco_refuses_a_file_over_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_detector.data import limits

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 10)
    with pytest.raises(CocoFormatError, match=r"is over the 10 B limit for one file: not read"):
        read_coco(path)

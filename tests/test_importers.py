"""Importers: Kaggle set, makesense.ai exports, YOLO folders and COCO into our layout."""

from __future__ import annotations

import argparse
import hashlib
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_detector.cli.data import add_import_parser as add_parser
from digit_detector.data.coco import export_coco
from digit_detector.data.importers.dataset import import_dataset, split_for, stem_for
from digit_detector.data.importers.readers import detect_format
from digit_detector.data.importers.sources import ImportFormatError, ImportReport
from digit_detector.data.yolo_format import load_split, read_meta, write_sample


def _draw(path: Path, width: int = 192, height: int = 192) -> Path:
    """A white canvas with a black stroke, written with cv2 (format from the suffix)."""
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    cv2.line(image, (width // 4, height // 4), (3 * width // 4, 3 * height // 4), (0, 0, 0), 5)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return path


def _tree_hash(root: Path) -> dict[str, str]:
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _boxes_by_image(out: Path, split: str = "train") -> dict[str, tuple[list[int], np.ndarray]]:
    contents = load_split(out, split)
    assert contents.problems == []
    return {s.image_path.stem: (s.class_ids.tolist(), s.boxes_xyxy) for s in contents.samples}


def _reasons(report: ImportReport) -> dict[str, str]:
    return {p.path.name: p.reason for p in report.problems}


# --------------------------------------------------------------------------- Kaggle


@pytest.fixture
def kaggle(tmp_path: Path) -> Path:
    root = tmp_path / "kaggle"
    _draw(root / "0" / "a.jpg")
    _draw(root / "4" / "b.jpg", 100, 80)
    _draw(root / "multiple" / "c.jpg")
    _corrupt(root / "5" / "corrupt.jpg")
    _draw(root / "6" / "badclass.jpg")
    _draw(root / "7" / "outside.jpg")
    _draw(root / "3" / "malformed.jpg")
    _draw(root / "9" / "unlisted.jpg")
    mapping = {
        "data/0/a.jpg": [[10, 20, 30, 40, 0]],
        "./4/b.jpg": [[5.5, 6, 20, 30, 4]],
        "multiple\\c.jpg": [[10, 10, 20, 30, 1], [100, 50, 40, 60, 10]],
        "5/corrupt.jpg": [[1, 1, 5, 5, 5]],
        "6/badclass.jpg": [[10, 10, 20, 20, 12]],
        "7/outside.jpg": [[180, 10, 30, 30, 7]],
        "3/malformed.jpg": [[1, 2, 3]],
        "8/missing.jpg": [[1, 1, 5, 5, 8]],
    }
    (root / "labels.json").write_text(json.dumps(mapping))
    return root


def test_kaggle_import(kaggle: Path, tmp_path: Path) -> None:
    before = _tree_hash(kaggle)
    out = tmp_path / "out"
    report = import_dataset(kaggle, out, progress=False)
    assert report.format == "kaggle"
    assert report.imported == {"train": 3}
    boxes = _boxes_by_image(out)
    assert set(boxes) == {"0__a", "4__b", "multiple__c"}
    assert boxes["0__a"][0] == [0]
    np.testing.assert_allclose(boxes["0__a"][1], [[10, 20, 40, 60]], atol=1)
    np.testing.assert_allclose(boxes["4__b"][1], [[5.5, 6, 25.5, 36]], atol=1)
    assert boxes["multiple__c"][0] == [1, 10]
    np.testing.assert_allclose(boxes["multiple__c"][1], [[10, 10, 30, 40], [100, 50, 140, 110]], atol=1)

    reasons = _reasons(report)
    assert set(reasons) == {
        "corrupt.jpg",
        "badclass.jpg",
        "outside.jpg",
        "malformed.jpg",
        "missing.jpg",
        "unlisted.jpg",
    }
    assert "corrupt" in reasons["corrupt.jpg"]
    assert "class 12 is out of range" in reasons["badclass.jpg"]
    assert "outside the image" in reasons["outside.jpg"]
    assert "malformed" in reasons["malformed.jpg"]
    assert "missing image" in reasons["missing.jpg"]
    assert "not listed" in reasons["unlisted.jpg"]

    meta = {r["image"]: r for r in read_meta(out, "train")}
    assert Path(meta["0__a.png"]["source"]) == kaggle / "0" / "a.jpg"
    assert (out / "data.yaml").exists()
    assert _tree_hash(kaggle) == before


def test_kaggle_json_as_source_and_reimport(kaggle: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = import_dataset(kaggle / "labels.json", out, images=kaggle, split="val", progress=False)
    assert report.format == "kaggle" and report.imported == {"val": 3}
    again = import_dataset(kaggle, out, fmt="kaggle", progress=False)
    assert again.total == 0
    assert sum("already imported" in p.reason for p in again.problems) == 3


def test_val_fraction_is_deterministic(kaggle: Path, tmp_path: Path) -> None:
    names = [f"{i}/img{i}.jpg" for i in range(400)]
    splits = [split_for(n, 0.25) for n in names]
    assert 60 < splits.count("val") < 140
    assert splits == [split_for(n, 0.25) for n in names]
    assert split_for("0/x.jpg", 0.25) == split_for("multiple/x.jpg", 0.25)  # by file name
    assert {split_for(n, 0.0) for n in names} == {"train"} and {split_for(n, 1.0) for n in names} == {"val"}
    first = import_dataset(kaggle, tmp_path / "o1", val_fraction=0.5, progress=False)
    second = import_dataset(kaggle, tmp_path / "o2", val_fraction=0.5, progress=False)
    assert first.imported == second.imported
    expected = {split_for(n, 0.5) for n in ("a.jpg", "b.jpg", "c.jpg")}
    assert set(first.imported) == expected


# --------------------------------------------------------------------------- makesense.ai


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    for name in ("a.png", "b.png", "d.png", "e.png", "f.png"):
        _draw(folder / name, 200, 100)
    _corrupt(folder / "g.png")
    return folder


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_makesense_yolo_zip(images: Path, tmp_path: Path) -> None:
    export = _zip(
        tmp_path / "labels_yolo.zip",
        {
            "a.txt": "4 0.5 0.5 0.2 0.4\n11 0.1 0.1 0.2 0.2\n",
            "b.txt": "3 0.5 0.5\n",
            "c.txt": "1 0.5 0.5 0.1 0.1\n",
            "e.txt": "12 0.5 0.5 0.1 0.1\n",
            "f.txt": "2 0.95 0.5 0.2 0.2\n",
            "g.txt": "2 0.5 0.5 0.2 0.2\n",
        },
    )
    before = _tree_hash(export)
    out = tmp_path / "out"
    report = import_dataset(export, out, images=images, progress=False)
    assert report.format == "makesense-yolo" and report.total == 1
    cls, boxes = _boxes_by_image(out)["a"]
    assert cls == [4, 11]
    np.testing.assert_allclose(boxes, [[80, 30, 120, 70], [0, 0, 40, 20]], atol=1)
    reasons = _reasons(report)
    assert set(reasons) == {"b.png", "c.txt", "d.png", "e.png", "f.png", "g.png"}
    assert "line 1" in reasons["b.png"]
    assert "missing image" in reasons["c.txt"]
    assert "no label file" in reasons["d.png"]
    assert "out of range" in reasons["e.png"]
    assert "outside the image" in reasons["f.png"]
    assert "corrupt" in reasons["g.png"]
    assert _tree_hash(export) == before


def test_makesense_yolo_names_file(images: Path, tmp_path: Path) -> None:
    export = _zip(
        tmp_path / "y.zip",
        {
            "classes.txt": "seven\n7\ncensored\n",
            "a.txt": "1 0.5 0.5 0.2 0.4\n2 0.5 0.5 0.1 0.1\n",
            "b.txt": "0 0.5 0.5 0.1 0.1",
        },
    )
    out = tmp_path / "out"
    report = import_dataset(export, out, fmt="makesense-yolo", images=images, progress=False)
    assert _boxes_by_image(out)["a"][0] == [7, 10]
    assert "'seven' is not one of ours" in _reasons(report)["b.png"]


def _voc(filename: str, size: tuple[int, int], objects: list[tuple[str, list[float]]]) -> str:
    objs = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b in objects
    )
    return (
        f"<annotation><folder>my-project</folder><filename>{filename}</filename>"
        f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>"
    )


def test_makesense_voc_zip(images: Path, tmp_path: Path) -> None:
    export = _zip(
        tmp_path / "labels_voc.zip",
        {
            "a.xml": _voc("a.png", (200, 100), [("7", [12, 8, 50, 90]), ("censored", [100, 10, 190, 95])]),
            "b.xml": _voc("b.png", (200, 100), [("cat", [1, 1, 10, 10])]),
            "d.xml": "<annotation><filename>d.png</filename>",
            "e.xml": _voc("e.png", (200, 100), [("3", [150, 10, 230, 50])]),
            "f.xml": _voc("f.png", (300, 100), [("3", [1, 1, 10, 10])]),
            "x.xml": _voc("x.png", (200, 100), [("3", [1, 1, 10, 10])]),
        },
    )
    assert detect_format(export) == "makesense-voc"
    out = tmp_path / "out"
    report = import_dataset(export, out, images=images, progress=False)
    cls, boxes = _boxes_by_image(out)["a"]
    assert cls == [7, 10]
    np.testing.assert_allclose(boxes, [[12, 8, 50, 90], [100, 10, 190, 95]], atol=1)
    reasons = _reasons(report)
    assert "unknown label name 'cat'" in reasons["b.png"]
    assert "malformed VOC XML" in reasons["d.xml"]
    assert "outside the image" in reasons["e.png"]
    assert "labels say 300x100" in reasons["f.png"]
    assert "missing image" in reasons["x.xml"]
    assert "no XML" in reasons["g.png"]
    assert report.total == 1


@pytest.mark.parametrize("header", [True, False])
def test_makesense_csv(images: Path, tmp_path: Path, header: bool) -> None:
    rows = [
        "5,10,20,30,40,a.png,200,100",
        "other,50,10,20,20,a.png,200,100",
        "banana,1,1,5,5,b.png,200,100",
        "3,1,1,5,5,missing.png,200,100",
        "3,1,x,5,5,d.png,200,100",
        "3,190,1,50,5,e.png,200,100",
        "3,1,1",
    ]
    text = (
        "label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name,image_width,image_height\n"
        if header
        else ""
    )
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(text + "\n".join(rows) + "\n")
    out = tmp_path / "out"
    report = import_dataset(csv_path, out, images=images, progress=False)
    assert report.format == "makesense-csv" and report.total == 1
    cls, boxes = _boxes_by_image(out)["a"]
    assert cls == [5, 11]
    np.testing.assert_allclose(boxes, [[10, 20, 40, 60], [50, 10, 70, 30]], atol=1)
    reasons = _reasons(report)
    assert "unknown label name 'banana'" in reasons["b.png"]
    assert "not a number" in reasons["d.png"]
    assert "outside the image" in reasons["e.png"]
    assert "not in labels.csv" in reasons["f.png"]
    csv_reasons = [p.reason for p in report.problems if p.path == csv_path]
    assert any("missing.png" in r for r in csv_reasons) and any(
        "expected 8 columns" in r for r in csv_reasons
    )


def test_makesense_needs_images(tmp_path: Path) -> None:
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("5,10,20,30,40,a.png,200,100\n")
    with pytest.raises(ImportFormatError, match="--images"):
        import_dataset(csv_path, tmp_path / "out", progress=False)


# --------------------------------------------------------------------------- YOLO folders and COCO


def test_yolo_our_layout_keeps_splits(tmp_path: Path) -> None:
    src = tmp_path / "src"
    white = np.full((100, 200, 3), 255, dtype=np.uint8)
    write_sample(src, "train", "p", white, np.array([3]), np.array([[10, 10, 50, 90]]))
    write_sample(src, "val", "q", white, np.array([], dtype=np.int64), np.zeros((0, 4)))
    _draw(src / "images" / "train" / "nolabel.png")
    (src / "labels" / "train" / "orphan.txt").write_text("1 0.5 0.5 0.1 0.1\n")
    (src / "labels" / "train" / "bad.txt").write_text("1 0.5 0.5 0.1 oops\n")
    _draw(src / "images" / "train" / "bad.png")
    out = tmp_path / "out"
    report = import_dataset(src, out, progress=False)
    assert report.format == "yolo" and report.imported == {"train": 1, "val": 1}
    np.testing.assert_allclose(_boxes_by_image(out)["train__p"][1], [[10, 10, 50, 90]], atol=1)
    assert _boxes_by_image(out, "val")["val__q"][0] == []
    reasons = _reasons(report)
    assert "no label file" in reasons["nolabel.png"]
    assert "missing image" in reasons["orphan.txt"]
    assert "not numbers" in reasons["bad.png"]


def test_yolo_flat_folder_with_names(tmp_path: Path) -> None:
    src = tmp_path / "flat"
    _draw(src / "x.png", 100, 100)
    (src / "x.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    _draw(src / "y.png", 100, 100)
    (src / "y.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (src / "data.yaml").write_text("names: {0: cat, 1: '9'}\n")
    (src / "review.txt").write_text("z.png\t2 objects\n")
    assert detect_format(src) == "yolo"
    report = import_dataset(src, tmp_path / "out", split="test", progress=False)
    assert report.imported == {"test": 1}
    cls, boxes = _boxes_by_image(tmp_path / "out", "test")["x"]
    assert cls == [9]
    np.testing.assert_allclose(boxes, [[40, 40, 60, 60]], atol=1)
    assert list(_reasons(report)) == ["y.png"]


def test_export_coco_then_import_coco_round_trip(kaggle: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    import_dataset(kaggle, first, progress=False)
    coco_json = tmp_path / "export" / "train.json"
    export_coco(first, "train", coco_json)
    assert detect_format(coco_json) == "coco"
    second = tmp_path / "second"
    report = import_dataset(coco_json, second, progress=False)
    assert report.problems == [] and report.total == 3
    original, again = _boxes_by_image(first), _boxes_by_image(second)
    assert set(original) == set(again)
    for stem, (classes, boxes) in original.items():
        assert again[stem][0] == classes
        np.testing.assert_allclose(again[stem][1], boxes, atol=1e-3)


def test_coco_problems(tmp_path: Path) -> None:
    folder = tmp_path / "coco"
    for name in ("a.png", "b.png", "c.png"):
        _draw(folder / "imgs" / name, 100, 50)
    doc = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 100, "height": 50},
            {"id": 2, "file_name": "b.png", "width": 100, "height": 50},
            {"id": 3, "file_name": "c.png", "width": 100, "height": 50},
            {"id": 4, "file_name": "gone.png", "width": 100, "height": 50},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 5, 20, 30]},
            {"id": 2, "image_id": 1, "category_id": 8, "bbox": [50, 5, 20, 30]},
            {"id": 3, "image_id": 2, "category_id": 9, "bbox": [10, 5, 20, 30]},
            {"id": 4, "image_id": 3, "category_id": 7, "bbox": [90, 5, 20, 30]},
        ],
        "categories": [{"id": 7, "name": "10"}, {"id": 8, "name": "Other"}, {"id": 9, "name": "dog"}],
    }
    (folder / "ann.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    report = import_dataset(folder, out, images=folder / "imgs", progress=False)
    assert report.format == "coco" and report.total == 1
    cls, boxes = _boxes_by_image(out)["a"]
    assert cls == [10, 11]
    np.testing.assert_allclose(boxes, [[10, 5, 30, 35], [50, 5, 70, 35]], atol=1)
    reasons = _reasons(report)
    assert "unknown category 9 ('dog')" in reasons["b.png"]
    assert "outside the image" in reasons["c.png"]
    assert "missing image" in reasons["gone.png"]


# --------------------------------------------------------------------------- detection, names, CLI


def test_detect_format_and_errors(kaggle: Path, tmp_path: Path) -> None:
    assert detect_format(kaggle) == "kaggle"
    assert detect_format(kaggle / "labels.json") == "kaggle"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportFormatError, match="--format"):
        detect_format(tmp_path / "empty")
    with pytest.raises(ImportFormatError, match="inside the source"):
        import_dataset(kaggle, kaggle / "out", progress=False)
    with pytest.raises(ImportFormatError, match="does not exist"):
        import_dataset(tmp_path / "nope", tmp_path / "out", progress=False)


def test_stem_for() -> None:
    assert stem_for("0/abc.jpg") == "0__abc"
    assert stem_for("abc.png") == "abc"
    assert stem_for("multiple\\my pic (1).jpg") == "multiple__my_pic_1"


def test_cli(kaggle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["import", str(kaggle), "--out", str(tmp_path / "out"), "--val-fraction", "0.2"])
    assert args.func(args) == 1
    captured = capsys.readouterr()
    assert "imported 3 images" in captured.out
    assert "skipped 6 file(s)" in captured.err and "corrupt.jpg" in captured.err
    args = parser.parse_args(["import", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert args.func(args) == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["import", str(kaggle), "--out", "x", "--split", "val", "--val-fraction", "0.1"])
    with pytest.raises(SystemExit):
        parser.parse_args(["import", "--help"])
    assert "makesense" in capsys.readouterr().out

"""Importers: Kaggle set, makesense.ai exports, YOLO folders and COCO into our layout."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from digit_detector.cli.data import add_import_parser as add_parser
from digit_detector.data.coco import export_coco
from digit_detector.data.importers import sources
from digit_detector.data.importers.dataset import import_dataset, split_for, stem_for
from digit_detector.data.importers.readers import detect_format
from digit_detector.data.importers.sources import ImportFormatError, ImportReport
from digit_detector.data.limits import FileTooLargeError, read_capped
from digit_detector.data.yolo_format import (
    LabelFileError,
    load_split,
    parse_label_text,
    read_meta,
    write_sample,
)


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


# --------------------------------------------------------------------------- hostile and broken input


def _bomb_zip(path: Path, member: str = "bomb.png", mib: int = 1024) -> Path:
    """A zip holding one real labelled drawing and ``member``: ``mib`` MiB of zeros, written in 1 MiB
    chunks (deflate level 1: ~200:1, so the zip is ~5 MB and this test never holds the member)."""
    image = np.full((100, 200, 3), 255, dtype=np.uint8)
    cv2.line(image, (10, 10), (150, 80), (0, 0, 0), 5)
    ok, png = cv2.imencode(".png", image)
    assert ok
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("a.png", png.tobytes())
        archive.writestr("a.txt", "4 0.5 0.5 0.2 0.4\n")
        chunk = bytes(2**20)
        with archive.open(member, "w", force_zip64=True) as handle:
            for _ in range(mib):
                handle.write(chunk)
    return path


def test_zip_bomb_is_refused_per_file_with_bounded_memory(tmp_path: Path) -> None:
    """A 1 GiB member (once read whole: 2.77 GB peak) is one problem line; the import's peak RSS stays
    low because no member is read past MAX_FILE_BYTES (the whole command, in its own process)."""
    bomb = _bomb_zip(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 8 * 2**20
    before = _tree_hash(bomb)
    out = tmp_path / "out"
    probe = (
        "import resource, subprocess, sys\n"
        "run = subprocess.run([sys.executable, '-m', 'digit_detector', 'data', 'import', sys.argv[1],"
        " '--out', sys.argv[2]], capture_output=True, text=True)\n"
        "print(run.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stderr.write(run.stdout + run.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(bomb), str(out)], capture_output=True, text=True, timeout=300
    )
    code, peak_kib = (int(v) for v in done.stdout.split())
    assert code == 1, done.stderr  # some files skipped
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
    assert "imported 1 images" in done.stderr
    problem_lines = [line for line in done.stderr.splitlines() if line.startswith("  ")]
    assert problem_lines == [f"  {bomb}/bomb.png: 1 GiB is over the 64 MiB limit for one file: not read"]
    assert _boxes_by_image(out)["a"][0] == [4]
    assert _tree_hash(bomb) == before


def test_zip_caps_on_members_and_total_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = _bomb_zip(tmp_path / "b.zip", "big.txt", mib=3)
    monkeypatch.setattr(sources, "MAX_ARCHIVE_MEMBERS", 2)
    with pytest.raises(ImportFormatError, match=r"has 3 members, more than the limit of 2: not imported"):
        import_dataset(bomb, tmp_path / "out", progress=False)
    monkeypatch.setattr(sources, "MAX_ARCHIVE_MEMBERS", 100)
    monkeypatch.setattr(sources, "MAX_ARCHIVE_BYTES", 2**20)
    with pytest.raises(ImportFormatError, match=r"unpacks to 3 MiB, more than the limit of 1 MiB"):
        import_dataset(bomb, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_read_capped_stops_at_the_cap() -> None:
    import io

    assert read_capped(io.BytesIO(b"x" * 10), limit=10) == b"x" * 10
    with pytest.raises(FileTooLargeError, match="over the limit"):
        read_capped(io.BytesIO(b"x" * 11), limit=10)


def test_big_folder_file_and_huge_image_are_problems(tmp_path: Path) -> None:
    src = tmp_path / "flat"
    _draw(src / "ok.png", 100, 100)
    (src / "ok.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    with (src / "sparse.png").open("wb") as handle:  # 1 GiB on paper, nothing on disk
        handle.truncate(2**30)
    (src / "sparse.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    Image.new("1", (8000, 6000), 1).save(src / "huge.png")  # 48 Mpx, a few kB as PNG
    (src / "huge.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    report = import_dataset(src, tmp_path / "out", fmt="yolo", progress=False)
    assert report.imported == {"train": 1}
    reasons = _reasons(report)
    assert reasons["sparse.png"] == "1 GiB is over the 64 MiB limit for one file: not read"
    assert reasons["huge.png"] == "image is 8000x6000 px, over the limit of 40 megapixels: not read"
    assert "missing image" in reasons["sparse.txt"]  # its image was refused


def test_coco_reads_only_inside_the_images_folder(tmp_path: Path) -> None:
    private = _draw(tmp_path / "private" / "photo.png", 100, 50)
    folder = tmp_path / "coco"
    _draw(folder / "imgs" / "a.png", 100, 50)
    (folder / "imgs" / "link.png").symlink_to(private)
    names = {2: str(private), 3: "../../private/photo.png", 4: "link.png", 5: "/etc/hostname"}
    doc = {
        "info": {"images_dir": str(private.parent)},  # a JSON cannot point the importer elsewhere
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}]
        + [{"id": i, "file_name": name, "width": 100, "height": 50} for i, name in names.items()],
        "annotations": [
            {"id": i, "image_id": i, "category_id": 1, "bbox": [10, 5, 20, 30]} for i in range(1, 6)
        ],
        "categories": [{"id": 1, "name": "7"}],
    }
    (folder / "ann.json").write_text(json.dumps(doc))
    before = _tree_hash(tmp_path / "private")
    out = tmp_path / "out"
    report = import_dataset(folder / "ann.json", out, images=folder / "imgs", progress=False)
    assert report.imported == {"train": 1}
    assert set(_boxes_by_image(out)) == {"a"}
    reasons = [p.reason for p in report.problems]
    assert len(reasons) == 4
    for name in (private, "../../private/photo.png", "/etc/hostname"):
        assert (
            f"file_name '{name}' is absolute or climbs out with '..' and no image of its base name is in "
            "the images folder: only files inside the images folder are read (listed in ann.json)"
        ) in reasons
    assert (
        f"file_name 'link.png' is a link to {private}, outside the images folder {folder / 'imgs'}: "
        "not read (listed in ann.json)"
    ) in reasons
    assert all(str(private) not in r["source"] for r in read_meta(out, "train"))
    assert _tree_hash(tmp_path / "private") == before
    # without --images, the info.images_dir of a foreign JSON is not a place to read from
    report = import_dataset(folder / "ann.json", tmp_path / "out2", progress=False)
    assert report.total == 0 and "missing image" in _reasons(report)["a.png"]


def test_yolo_folder_links_leading_out_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    photo = _draw(outside / "photo.png", 100, 100)
    (outside / "secret.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    (outside / "more").mkdir()
    _draw(outside / "more" / "c.png", 100, 100)
    src = tmp_path / "src"
    white = np.full((100, 100, 3), 255, dtype=np.uint8)
    write_sample(src, "train", "p", white, np.array([3]), np.array([[10, 10, 50, 90]]))
    (src / "images" / "train" / "link.png").symlink_to(photo)
    (src / "labels" / "train" / "link.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    _draw(src / "images" / "train" / "q.png", 100, 100)
    (src / "labels" / "train" / "q.txt").symlink_to(outside / "secret.txt")
    (src / "images" / "train" / "inside.png").symlink_to(src / "images" / "train" / "p.png")
    (src / "labels" / "train" / "inside.txt").write_text("2 0.5 0.5 0.2 0.2\n")
    (src / "images" / "more").symlink_to(outside / "more", target_is_directory=True)
    before = _tree_hash(outside)
    out = tmp_path / "out"
    report = import_dataset(src, out, progress=False)
    assert report.imported == {"train": 2}  # p and the link to p inside the source
    assert set(_boxes_by_image(out)) == {"train__p", "train__inside"}
    reasons = _reasons(report)
    assert reasons["link.png"] == f"a symbolic link to {photo}, outside the source: not followed"
    assert (
        reasons["q.txt"] == f"a symbolic link to {outside / 'secret.txt'}, outside the source: not followed"
    )
    assert "was not read (see its own line)" in reasons["q.png"]
    assert reasons["more"] == f"a symbolic link to the folder {outside / 'more'}: not followed"
    assert "missing image" in reasons["link.txt"]
    assert _tree_hash(outside) == before


def test_out_overlapping_the_input_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "P"
    white = np.full((100, 100, 3), 255, dtype=np.uint8)
    write_sample(dataset, "train", "p", white, np.array([3]), np.array([[10, 10, 50, 90]]))
    before = _tree_hash(dataset)
    source = dataset / "images" / "train"
    for out, relation in ((dataset, "contains"), (source, "is"), (source / "x", "is inside")):
        with pytest.raises(ImportFormatError, match=f"--out {out} {relation} the source"):
            import_dataset(source, out, fmt="yolo", progress=False)
    (tmp_path / "l.csv").write_text("3,1,1,5,5,p.png,100,100\n")
    with pytest.raises(ImportFormatError, match="contains the --images folder"):
        import_dataset(tmp_path / "l.csv", dataset, images=source, progress=False)
    json_path = tmp_path / "k" / "labels.json"
    json_path.parent.mkdir()
    json_path.write_text("{}")
    with pytest.raises(ImportFormatError, match="is inside the folder of the source JSON"):
        import_dataset(json_path, tmp_path / "k" / "out", progress=False)
    zipped = _zip(dataset / "images" / "train" / "l.zip", {"p.txt": "3 0.5 0.5 0.1 0.1\n"})
    before[str(zipped.relative_to(dataset))] = hashlib.sha256(zipped.read_bytes()).hexdigest()
    with pytest.raises(ImportFormatError, match="would write where the source"):
        import_dataset(zipped, dataset, images=tmp_path / "k", progress=False)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["import", str(source), "--out", str(dataset)])
    assert args.func(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: --out {dataset} contains the source {source}: choose an output folder outside it "
        "(the input is only ever read, never written)\n"
    )
    assert _tree_hash(dataset) == before


def test_zip_member_names_leading_out_are_refused(images: Path, tmp_path: Path) -> None:
    export = tmp_path / "evil.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("a.txt", "4 0.5 0.5 0.2 0.4\n")
        for name in ("/abs/b.txt", "../d.txt", "x/../../e.txt", "C:/f.txt", "..\\g.txt"):
            archive.writestr(zipfile.ZipInfo(name), "1 0.5 0.5 0.1 0.1\n")
    report = import_dataset(export, tmp_path / "out", images=images, progress=False)
    assert report.imported == {"train": 1}
    refused = [p for p in report.problems if p.path == export]
    assert [p.reason for p in refused] == [
        f"member {name!r} has an absolute or '..' name: refused, not read"
        for name in ("/abs/b.txt", "../d.txt", "x/../../e.txt", "C:/f.txt", "..\\g.txt")
    ]
    assert all(str(p.path).startswith(str(tmp_path)) for p in report.problems)
    assert {r["source"] for r in read_meta(tmp_path / "out", "train")} == {str(images / "a.png")}


def test_hidden_and_system_files_are_counted_not_lost(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = _zip(
        tmp_path / "mac.zip",
        {
            "a.txt": "4 0.5 0.5 0.2 0.4\n",
            ".hidden.png": "x",
            ".b.txt": "1 0.5 0.5 0.1 0.1\n",
            "__MACOSX/._a.txt": "junk",
            "sub/Thumbs.db": "junk",
        },
    )
    report = import_dataset(export, tmp_path / "out", images=images, progress=False)
    assert report.total == 1
    assert [p.path.name for p in report.ignored] == [".hidden.png", ".b.txt", "._a.txt", "Thumbs.db"]
    assert not any(p.path.name.startswith(".") for p in report.problems)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["import", str(export), "--out", str(tmp_path / "o"), "--images", str(images)])
    assert args.func(args) == 1  # b, d, e, f, g of `images` have no labels
    err = capsys.readouterr().err
    assert (
        "ignored 4 hidden or system files: names starting with '.', __MACOSX/, Thumbs.db, desktop.ini "
        f"({export}/.hidden.png, {export}/.b.txt, {export}/__MACOSX/._a.txt and 1 more)"
    ) in err


@pytest.mark.parametrize("class_text", ["1_0", "+1", "٧", "1.0", "0x1", "-1"])
def test_class_ids_are_ascii_digits_only(images: Path, tmp_path: Path, class_text: str) -> None:
    with pytest.raises(LabelFileError, match=r"line 2: class .* is not a class id \(ASCII digits 0-9 only\)"):
        parse_label_text(f"1 0.5 0.5 0.1 0.1\n{class_text} 0.5 0.5 0.1 0.1\n", (100, 100), "t.txt")
    export = _zip(
        tmp_path / "y.zip",
        {"a.txt": f"{class_text} 0.5 0.5 0.2 0.4\n", "b.txt": "1 0.5 0.5 0.1 0.1\n"},
    )
    report = import_dataset(export, tmp_path / "out", images=images, progress=False)
    assert "is not a class id (ASCII digits 0-9 only)" in _reasons(report)["a.png"]
    with_names = _zip(tmp_path / "n.zip", {"classes.txt": "7\n", "a.txt": f"{class_text} 0.5 0.5 0.2 0.4\n"})
    report = import_dataset(with_names, tmp_path / "out2", images=images, progress=False)
    assert "is not a class id (ASCII digits 0-9 only)" in _reasons(report)["a.png"]


def test_kaggle_class_values_are_strict(tmp_path: Path) -> None:
    root = tmp_path / "k"
    values: dict[str, object] = {
        "ok_int": 4,
        "ok_text": "4",
        "ok_float": 4.0,
        "ok_name": "censored",
        "space": " 1",
        "plus": "+1",
        "underscore": "1_0",
        "arabic": "٧",
        "fraction": 1.5,
        "boolean": True,
        "nan_text": "nan",
        "list": [1],
        "huge": 10**30,
    }
    for name in values:
        _draw(root / f"{name}.png", 100, 100)
    mapping = {f"{name}.png": [[10, 10, 20, 20, value]] for name, value in values.items()}
    (root / "labels.json").write_text(json.dumps(mapping))
    report = import_dataset(root, tmp_path / "out", progress=False)
    assert report.total == 4
    reasons = {Path(k).stem: v for k, v in _reasons(report).items()}
    assert set(reasons) == {n for n in values if not n.startswith("ok_")}
    for name in ("space", "plus", "underscore", "arabic", "nan_text"):
        assert "is not a class id (ASCII digits) or one of" in reasons[name], name
    assert "class 1.5 is not an integer" in reasons["fraction"]
    assert "class True is not a class id or name" in reasons["boolean"]
    assert "class [1] is not a class id or name" in reasons["list"]
    assert "is out of range 0..11" in reasons["huge"]

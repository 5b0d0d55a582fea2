"""Autolabel: contour boxes, merging the strokes of one object, review of the rest."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_detector.cli.data import add_autolabel_parser as add_parser
from digit_detector.data.autolabel import (
    REVIEW_FILE,
    autolabel,
    find_objects,
    merge_boxes,
    parse_class,
)
from digit_detector.data.importers.dataset import import_dataset
from digit_detector.data.yolo_format import load_split, parse_label_text

SIZE = 192


def _canvas() -> np.ndarray:
    return np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)


def _four_in_two_strokes() -> np.ndarray:
    """A "4" drawn as two unconnected strokes: the open L and the separate down stroke."""
    image = _canvas()
    cv2.polylines(image, [np.array([[60, 40], [50, 110], [110, 110]])], False, (0, 0, 0), 6)
    cv2.line(image, (122, 50), (122, 160), (0, 0, 0), 6)
    return image


def _two_digits() -> np.ndarray:
    """A "1" and a "7", well apart."""
    image = _canvas()
    cv2.line(image, (40, 50), (40, 140), (0, 0, 0), 6)
    cv2.polylines(image, [np.array([[100, 50], [160, 50], [120, 140]])], False, (0, 0, 0), 6)
    return image


def _ink_box(image: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(image.min(axis=2) < 128)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _save(folder: Path, name: str, image: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert cv2.imwrite(str(path), image)
    return path


def test_two_stroke_four_is_one_box() -> None:
    image = _four_in_two_strokes()
    boxes = find_objects(image)
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], _ink_box(image), atol=1)
    assert len(find_objects(image, gap=0.0)) == 2  # the strokes really are separate


def test_two_digits_stay_apart_and_specks_are_ignored() -> None:
    image = _two_digits()
    cv2.circle(image, (180, 180), 1, (0, 0, 0), -1)  # a speck
    boxes = find_objects(image)
    assert len(boxes) == 2
    assert len(find_objects(_canvas())) == 0


def test_light_on_dark_drawing() -> None:
    image = 255 - _four_in_two_strokes()
    assert len(find_objects(image)) == 1


def test_merge_boxes_rules() -> None:
    far = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], dtype=float)
    assert len(merge_boxes(far)) == 2
    overlapping = np.array([[0, 0, 10, 10], [5, 5, 20, 20]], dtype=float)
    np.testing.assert_array_equal(merge_boxes(overlapping), [[0, 0, 20, 20]])
    # gap 14 <= 0.15 * 100 (the larger box's side): merged; gap 16 is not
    np.testing.assert_array_equal(
        merge_boxes(np.array([[0, 0, 100, 100], [114, 0, 120, 10]], float)), [[0, 0, 120, 100]]
    )
    assert len(merge_boxes(np.array([[0, 0, 100, 100], [116, 0, 120, 10]], float))) == 2
    # a chain: each box only near the next one
    chain = np.array([[0, 0, 20, 20], [22, 0, 42, 20], [44, 0, 64, 20]], dtype=float)
    np.testing.assert_array_equal(merge_boxes(chain), [[0, 0, 64, 20]])
    # iterative: C is near only the merged A+B box (its side grew from 40 to 100)
    grows = np.array([[0, 0, 40, 100], [30, 0, 100, 40], [110, 60, 112, 62]], dtype=float)
    assert len(merge_boxes(grows, gap=0.05)) == 2
    np.testing.assert_array_equal(merge_boxes(grows), [[0, 0, 112, 100]])
    assert merge_boxes(np.zeros((0, 4))).shape == (0, 4)


def test_autolabel_folder(tmp_path: Path) -> None:
    folder = tmp_path / "fours"
    four = _four_in_two_strokes()
    _save(folder, "one.png", four)
    _save(folder, "two.png", _two_digits())
    _save(folder, "blank.png", _canvas())
    (folder / "broken.png").write_bytes(b"not a png")
    result = autolabel(folder, 4, progress=False)
    assert [p.name for p in result.labelled] == ["one.png"]
    class_ids, boxes = parse_label_text((folder / "one.txt").read_text(), (SIZE, SIZE))
    assert class_ids.tolist() == [4]
    np.testing.assert_allclose(boxes[0], _ink_box(four), atol=1)
    reasons = {p.path.name: p.reason for p in result.review}
    assert set(reasons) == {"two.png", "blank.png", "broken.png"}
    assert reasons["two.png"].startswith("2 objects")
    assert reasons["blank.png"] == "no object found"
    assert "unreadable" in reasons["broken.png"]
    review = (folder / REVIEW_FILE).read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in review) == ["blank.png", "broken.png", "two.png"]
    assert not (folder / "two.txt").exists()

    # existing labels are kept unless overwrite
    (folder / "one.txt").write_text("4 0.5 0.5 0.1 0.1\n")
    again = autolabel(folder, 4, progress=False)
    assert [p.name for p in again.kept] == ["one.png"]
    assert (folder / "one.txt").read_text() == "4 0.5 0.5 0.1 0.1\n"
    autolabel(folder, 4, overwrite=True, progress=False)
    assert (folder / "one.txt").read_text() != "4 0.5 0.5 0.1 0.1\n"

    # the labelled folder imports as YOLO; images under review are reported, not imported empty
    report = import_dataset(folder, tmp_path / "ds", progress=False)
    assert report.format == "yolo" and report.total == 1
    assert {p.path.name for p in report.problems} == {"two.png", "blank.png", "broken.png"}
    assert load_split(tmp_path / "ds", "train").samples[0].class_ids.tolist() == [4]


def test_transparent_canvas_export(tmp_path: Path) -> None:
    rgba = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    cv2.line(rgba, (50, 50), (140, 140), (0, 0, 0, 255), 6)
    _save(tmp_path / "d", "t.png", rgba)
    result = autolabel(tmp_path / "d", 11, progress=False)
    assert len(result.labelled) == 1


@pytest.mark.parametrize(("text", "expected"), [("4", 4), ("10", 10), ("censored", 10), ("Other", 11)])
def test_parse_class(text: str, expected: int) -> None:
    assert parse_class(text) == expected


@pytest.mark.parametrize("text", ["+1", "1_0", "٧", "1.0", "04", "12", "dog"])
def test_parse_class_refuses_what_int_would_take(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"unknown class {text!r}; use an id 0..11 or one of")):
        parse_class(text)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    _save(tmp_path / "f", "a.png", _four_in_two_strokes())
    args = parser.parse_args(["autolabel", str(tmp_path / "f"), "--label", "4"])
    assert args.func(args) == 0
    _save(tmp_path / "f", "b.png", _two_digits())
    assert args.func(args) == 1
    assert "b.png: 2 objects" in capsys.readouterr().out
    args = parser.parse_args(["autolabel", str(tmp_path / "f"), "--label", "dog"])
    assert args.func(args) == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["autolabel", "--help"])

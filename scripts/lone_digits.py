"""Lone digits over the app's whole size and pen range: how many does the detector show and name right?

    .venv/bin/python scripts/lone_digits.py [--weights FILE] [--per-cell 20] [--sheet failures.png]

Prints a Markdown table (rows: ink height in px on the 400 px canvas; columns: pen width) of
'named/drawn (shown)'; see ``digit_detector.lone_digits``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from digit_detector.detector import Detector
from digit_detector.lone_digits import grid_table, lone_digit_grid
from digit_detector.render import draw_boxes, grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--per-cell", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", type=Path, default=None, help="contact sheet of the failures (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(args.weights, device="cpu", backend=args.backend)
    cells = lone_digit_grid(detector, args.per_cell, seed=args.seed)
    print(grid_table(cells))
    drawn = sum(c.drawn for c in cells)
    print(
        f"\n{detector.metadata.version}: {sum(c.named for c in cells)}/{drawn} named right, "
        f"{sum(c.shown for c in cells)}/{drawn} shown"
    )
    if args.sheet is not None:
        tiles = []
        for cell in cells:
            for canvas, _digit, detections in cell.failures:
                tile = draw_boxes(
                    Image.fromarray(canvas),
                    np.array([d.box for d in detections]).reshape(-1, 4),
                    [d.class_id for d in detections],
                    [d.score for d in detections],
                    labels=[d.shown_label for d in detections],
                )
                tiles.append(tile)
        if tiles:
            grid(tiles[:48], columns=8).save(args.sheet)
            print(f"failures: {args.sheet}")


if __name__ == "__main__":
    main()

"""What the namer confuses on true boxes, split by split, and a sheet of its errors.

    .venv/bin/python experiments/namer_confusions.py --sets data/fitc:train data/val2:val data/synth:val \
        data/synth:test --limit 3000 --sheet docs/namer_errors_training_glyphs.png --sheet-set data/fitc:train

For the first ``--limit`` canvases of each ``ROOT:SPLIT``, the shipped namer names every true box (as
``oracle_boxes.py`` does): the digits named right, and the commonest confusions (truth -> name), with the
share of `1` <-> `7`. ``data/fitc`` is drawn from the *training* pool's glyphs (MNIST training originals,
training fonts) on canvases no model learnt from: what the namer misses there is not a glyph it has never
seen. The sheet draws the errors of ``--sheet-set`` (the box on its canvas, ``truth>name source prob``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from digit_detector.bundled import bundled_dir
from digit_detector.classes import CLASS_NAMES
from digit_detector.naming import load_namer
from digit_detector.training.crop_sets import CropSet, canvas_crop_set
from digit_detector.training.namer import predict_crop_set

TILE = 96
COLUMNS = 10


def draw_errors(crops: CropSet, wrong: np.ndarray, names: np.ndarray, sure: np.ndarray, out: Path) -> None:
    """A contact sheet of the boxes in ``wrong`` (at most 80): each cut from its canvas's model input with
    half its size around it, the box drawn, ``truth>name source probability`` above."""
    shown = wrong[:80]
    rows = max(1, (len(shown) + COLUMNS - 1) // COLUMNS)
    sheet = Image.new("L", (COLUMNS * TILE, rows * (TILE + 12)), 200)
    pen = ImageDraw.Draw(sheet)
    for n, i in enumerate(shown):
        ink = crops.ink[crops.image_index[i], 0].numpy()
        x1, y1, x2, y2 = crops.boxes[i].tolist()
        side, cx, cy = max(x2 - x1, y2 - y1) * 1.5, (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        window = 255 - ink[top : int(cy + side / 2) + 1, left : int(cx + side / 2) + 1]
        tile = Image.fromarray(window.astype(np.uint8)).resize((TILE, TILE))
        sx, sy = TILE / window.shape[1], TILE / window.shape[0]
        ImageDraw.Draw(tile).rectangle(
            [(x1 - left) * sx, (y1 - top) * sy, (x2 - left) * sx, (y2 - top) * sy], outline=128
        )
        row, column = divmod(n, COLUMNS)
        sheet.paste(tile, (column * TILE, row * (TILE + 12) + 12))
        label = f"{CLASS_NAMES[crops.labels[i]]}>{CLASS_NAMES[names[i]]} {crops.kinds[i][:4]} {sure[i]:.2f}"
        pen.text((column * TILE + 2, row * (TILE + 12)), label, fill=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    print(f"wrote {out} ({len(shown)} of {len(wrong)} errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["data/fitc:train", "data/val2:val"])
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--sheet", type=Path, default=None)
    parser.add_argument("--sheet-set", default="data/fitc:train")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    namer, _ = load_namer(bundled_dir("weights") / "yolov3-tiny.namer.safetensors")
    for spec in args.sets:
        root, split = spec.split(":")
        crops = canvas_crop_set(Path(root), split, limit=args.limit, progress=False)
        probs = predict_crop_set(namer, crops)[:, : len(CLASS_NAMES)]
        names, sure = probs.argmax(1).numpy(), probs.max(1).values.numpy()
        labels = crops.labels.numpy()
        digits = labels < 10
        wrong = np.flatnonzero((names != labels) & digits)
        pairs = Counter((CLASS_NAMES[labels[i]], CLASS_NAMES[names[i]]) for i in wrong)
        one_seven = pairs[("1", "7")] + pairs[("7", "1")]
        print(
            f"{spec}: digits named right {1 - len(wrong) / digits.sum():.2%} of {digits.sum()}; "
            f"errors {len(wrong)}, 1 <-> 7 {one_seven}; commonest {pairs.most_common(6)}"
        )
        if args.sheet is not None and spec == args.sheet_set:
            draw_errors(crops, wrong, names, sure, args.sheet)


if __name__ == "__main__":
    main()

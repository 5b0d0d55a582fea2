"""Numbers with a ``1`` drawn as one straight stroke beside other digits or other ``1``s, read as the app
reads them: how close may the strokes come?

    .venv/bin/python experiments/straight_ones.py [--weights F ...] [--sheet PNG]

Most people draw a ``1`` as one straight stroke (``probe_drawings.STRAIGHT_ONE``), and the synthetic
val and test splits hold none (their ``1``s are MNIST's, fonts' and Hershey's). The drawings are
``probe_drawings.straight_one_rows``: each number drawn with the probe's digit shapes in a row, centred on the
app's 400 px canvas, at each height, pen and gap between the inks of neighbours (in digit heights: 0 is ink
touching ink, not drawn for two ``1``s side by side), where the row fits the canvas; rendered as the
canvas renders strokes and read offline (``Detector``). Prints the share read exactly by gap for rows of
``1``s only and for a ``1`` beside other digits, per weights given, and where the ``1``s of the misread
ones are lost (``miss_stages.stage_lost``); ``--sheet`` draws the first weights' misreads.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
from miss_stages import matches, stage_lost
from PIL import Image, ImageDraw

from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.probe_drawings import ROW_GAPS, RowDrawing, straight_one_rows
from digit_detector.render import grid
from digit_detector.weights import DEFAULT_WEIGHTS

TILE = 200


def tile(drawing: RowDrawing, read: str) -> Image.Image:
    image = Image.fromarray(render_strokes(drawing.strokes, width=drawing.pen)).convert("RGB")
    pen = ImageDraw.Draw(image)
    pen.text(
        (4, 4), f"{drawing.number} read {read!r} (gap {drawing.gap:g}, pen {drawing.pen})", fill=(200, 0, 0)
    )
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS])
    parser.add_argument("--sheet", type=Path, default=None, help="draw the first weights' misreads here")
    args = parser.parse_args()
    rows = straight_one_rows()
    for index, weights in enumerate(args.weights):
        detector = Detector.from_weights(weights)
        # each result without its canvas: 612 of them would hold about 300 MB of pixels
        results = [replace(detector(render_strokes(d.strokes, width=d.pen)), orig_img=None) for d in rows]
        readings = [result.number for result in results]
        table: dict[tuple[str, float], list[bool]] = defaultdict(list)
        for drawing, read in zip(rows, readings, strict=True):
            kind = "rows of 1s" if drawing.ones_only else "a 1 beside other digits"
            table[(kind, drawing.gap)].append(read == drawing.number)
        print(f"== {weights}")
        print("| drawings | " + " | ".join(f"gap {gap:g}" for gap in ROW_GAPS) + " |")
        print("| --- | " + " | ".join("---:" for _ in ROW_GAPS) + " |")
        for kind in ("rows of 1s", "a 1 beside other digits"):
            cells = [table[(kind, gap)] for gap in ROW_GAPS]
            print(f"| {kind} | " + " | ".join(f"{sum(cell)} of {len(cell)}" for cell in cells) + " |")
        lost: Counter[str] = Counter()
        for drawing, result in zip(rows, results, strict=True):
            if result.number == drawing.number:
                continue
            image = Image.fromarray(render_strokes(drawing.strokes, width=drawing.pen))
            shown = np.asarray([d.box for d in result.detections], dtype=np.float64).reshape(-1, 4)
            for box in np.asarray(drawing.one_boxes, dtype=np.float64):
                if not matches(box, shown):
                    lost[stage_lost(detector, image, box)] += 1
        print(f"1s of misread numbers that no shown box matches, by where they are lost: {dict(lost)}")
        if index == 0 and args.sheet is not None:
            misread = [tile(d, read) for d, read in zip(rows, readings, strict=True) if read != d.number]
            args.sheet.parent.mkdir(parents=True, exist_ok=True)
            grid(misread, columns=10, tile_size=TILE).quantize(colors=32).save(args.sheet)
            print(f"{len(misread)} misread, drawn in {args.sheet}")


if __name__ == "__main__":
    main()

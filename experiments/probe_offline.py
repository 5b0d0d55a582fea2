"""The browser probe's drawings without a browser: rendered as the canvas does, read, and the numbers shown.

    .venv/bin/python experiments/probe_offline.py [--weights FILE] [--out docs/probe_numbers.png]

Renders each drawing of :func:`digit_detector.probe_drawings.probe_drawings` with the canvas's pen
(:func:`digit_detector.loadgen_drawings.render_strokes`), reads it with the weights, prints how many of
each kind are read and which are not, and saves a contact sheet of the numbers with their boxes (the same
drawings the regression gate reads; ``scripts/browser_probe.py`` draws them in the running app).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image

from digit_detector.detector import Detector
from digit_detector.loadgen_drawings import render_strokes
from digit_detector.probe_drawings import probe_drawings
from digit_detector.render import annotate, grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--out", type=Path, default=None, help="contact sheet of the numbers (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(args.weights, device="cpu")
    read_by_kind: dict[str, list[int]] = {}
    sheet: list[Image.Image] = []
    for drawing in probe_drawings():
        canvas = render_strokes(drawing.strokes, width=drawing.pen_width)
        result = detector(canvas)
        read = result.number.replace("\n", " ")
        counts = read_by_kind.setdefault(drawing.kind, [0, 0])
        counts[0] += read == drawing.expected
        counts[1] += 1
        if read != drawing.expected:
            print(f"{drawing.expected} ({drawing.kind}) read {read!r}")
        if "number" in drawing.kind:
            sheet.append(annotate(Image.fromarray(canvas).convert("RGB"), result.detections))
    print("; ".join(f"{kind} {right}/{total}" for kind, (right, total) in read_by_kind.items()))
    if args.out is not None:
        grid(sheet, columns=3, tile_size=300).save(args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""How much of each MNIST glyph its traced strokes draw back: where re-inking loses a digit's shape.

    .venv/bin/python experiments/trace_coverage.py --split test [--sheet trace_coverage.png]

The data engine draws MNIST digits from their traced centre lines (``ObjectFactory.mnist_strokes``). A
loop that is filled in the glyph (a `6` or `9` written with a heavy pen) thins to a line, so the redrawn
digit loses the loop (a `6` becomes a `C`). For every digit of the split's MNIST range this draws the
strokes back at the glyph's own stroke width on the tracer's 112 px grid and prints the share of the traced
glyph's ink they cover (``trace_coverage``), by digit; the sheet shows the least
covered glyphs next to their redraws. Untraceable glyphs (too blobby: the engine skips them) are counted.
With ``--data``, the shipped namer also names the split's true boxes on the canvases, and the re-inked MNIST
digits among them are split by their glyph's coverage: how much of the naming error the tracing causes.

    .venv/bin/python experiments/trace_coverage.py --split test --data data/synth
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from digit_detector.bundled import bundled_dir
from digit_detector.data import sources
from digit_detector.data.objects import MIN_TRACE_COVERAGE, trace_mnist
from digit_detector.data.strokes import drawn_back, trace_coverage
from digit_detector.data.yolo_format import load_split, read_meta
from digit_detector.naming import load_namer
from digit_detector.training.crop_sets import canvas_crop_set
from digit_detector.training.namer import predict_crop_set


def named_right_by_cover(data: Path, split: str, cover: dict[tuple[int, int], float]) -> None:
    """The shipped namer on the split's true boxes: re-inked MNIST digits named right, by glyph coverage."""
    records = {(data / r["image"]).resolve(): r for r in read_meta(data, split)}
    sources_in_order = [
        obj["source"]
        for sample in load_split(data, split).samples
        for obj in records[sample.image_path.resolve()]["objects"]
        if not obj.get("dropped", False)
    ]
    crops = canvas_crop_set(data, split, progress=False)
    model, _ = load_namer(bundled_dir("weights") / "yolov3-tiny.namer.safetensors")
    right = (predict_crop_set(model, crops).argmax(dim=1) == crops.labels).numpy()
    groups: dict[str, list[bool]] = {"under 80 %": [], "80 % or more": []}
    for source, ok in zip(sources_in_order, right.tolist(), strict=True):
        if source.get("kind") == "mnist":
            value = cover.get((int(source["digit"]), int(source["index"])), 1.0)
            groups["under 80 %" if value < 0.8 else "80 % or more"].append(ok)
    wrong = sum(len(v) - sum(v) for v in groups.values())
    for name, oks in groups.items():
        print(
            f"re-inked MNIST boxes on the {split} canvases, glyph covered {name}: {len(oks)}, named right "
            f"{np.mean(oks):.1%}, {len(oks) - sum(oks)} of the {wrong} misnamed"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--sheet", type=Path, default=None, help="write the 40 least covered glyphs here")
    parser.add_argument("--data", type=Path, default=None, help="also name this dataset's true boxes")
    args = parser.parse_args()
    mnist = sources.load_mnist()
    rows: list[tuple[float, int, int]] = []
    untraceable = 0
    for digit, images in enumerate(mnist):
        for index in sources.mnist_split_range(len(images), args.split):
            strokes, binary = trace_mnist(images[index])
            if not strokes:
                untraceable += 1
                continue
            rows.append((trace_coverage(binary, strokes), digit, index))
    cover = np.array([r[0] for r in rows])
    digits = np.array([r[1] for r in rows])
    print(f"{len(rows)} glyphs traced, {untraceable} too blobby to trace (skipped by the engine)")
    skipped = sum(value < MIN_TRACE_COVERAGE for value, _, _ in rows)
    print(
        f"the engine also skips the {skipped} whose strokes cover under {MIN_TRACE_COVERAGE:.0%} of their ink"
    )
    print(
        f"ink covered by the redraw: median {np.median(cover):.1%}; under 80 % {np.mean(cover < 0.8):.1%}, "
        f"under 70 % {np.mean(cover < 0.7):.1%}"
    )
    for digit in range(10):
        mine = cover[digits == digit]
        share = np.mean(mine < 0.8)
        print(f"  {digit}: {len(mine)} glyphs, median {np.median(mine):.1%}, under 80 % {share:.1%}")
    if args.data is not None:
        by_glyph = {(digit, index): value for value, digit, index in rows}
        named_right_by_cover(args.data, args.split, by_glyph)
    if args.sheet is not None:
        worst = sorted(rows)[:40]
        tiles = []
        for _, digit, index in worst:
            strokes, binary = trace_mnist(mnist[digit][index])
            drawn = drawn_back(binary, strokes)
            tiles.append(
                np.hstack([255 - 255 * binary, 255 - 255 * drawn, np.full((binary.shape[0], 4), 128)])
            )
        rows_of_tiles = [np.hstack(tiles[i : i + 5]) for i in range(0, len(tiles), 5)]
        Image.fromarray(np.vstack(rows_of_tiles).astype(np.uint8)).save(args.sheet)
        print(f"the 40 least covered glyphs (glyph | redraw) in {args.sheet}")


if __name__ == "__main__":
    main()

"""How much of the containment headroom a keep rule learnt from training canvases reads, on several splits.

    .venv/bin/python experiments/learned_containment.py --fit data/fitc:train data/fitc2:train \
        --eval data/synth:val data/val2:val --cache runs/learned_containment [--weights FILE] \
        [--sheet docs/keep_rule_flips.png --sheet-p 0.8]

The library's recipe (``digit_detector.training.keep_rule``, behind ``namer keep-rule``) fitted on the
``--fit`` canvases, then read on each ``--eval`` split at every threshold of ``MIN_PROBABILITIES``, beside
the rule without it and the oracle (every dropped box that is a whole object kept: the most a keep rule
could read). ``namer keep-rule`` chooses its threshold on one val split; this shows whether the choice
holds on others. One pass per canvas (containment off) is cached under ``--cache``. ``--sheet`` draws the
canvases of the last ``--eval`` split whose number the rule at ``--sheet-p`` reads differently (as shown
with the rule, captioned gained or lost and the number drawn).
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from digit_detector.containment import KeepRule
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas
from digit_detector.io import read_image
from digit_detector.preprocess import to_rgb
from digit_detector.reading import read_number
from digit_detector.render import annotate, grid
from digit_detector.training.keep_rule import (
    HIDDEN_UNITS,
    MIN_PROBABILITIES,
    Canvas,
    collect,
    fit_keep_rule,
    read_with,
    shown_with,
    training_rows,
    whole_objects,
)


def cached(detector: Detector, text: str, cache: Path) -> list[Canvas]:
    data, split = text.split(":")
    path = cache / f"{Path(data).name}-{split}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    canvases = collect(detector, load_split(Path(data), split).samples, text)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(canvases))
    return canvases


def oracle(detector: Detector, canvases: list[Canvas]) -> ReadingCounts:
    counts = ReadingCounts()
    for canvas in canvases:
        detections = canvas.result.detections
        dropped = detector.contained_mask(detections, detector.containment_threshold)
        whole = whole_objects(detections, dropped, canvas.ids, canvas.truth)
        kept = [d for d, drop, keep in zip(detections, dropped, whole, strict=True) if keep or not drop]
        counts.add(read_canvas(canvas.ids, canvas.truth, canvas.result.with_detections(kept)))
    return counts


def flip_sheet(detector: Detector, text: str, canvases: list[Canvas], rule: KeepRule, out: Path) -> None:
    """The canvases whose number ``rule`` reads differently, as shown with it."""
    data, split = text.split(":")
    tiles = []
    for sample, canvas in zip(load_split(Path(data), split).samples, canvases, strict=True):
        before, after = shown_with(detector, canvas, None), shown_with(detector, canvas, rule)
        ok_before = read_canvas(canvas.ids, canvas.truth, before).number_ok
        ok_after = read_canvas(canvas.ids, canvas.truth, after).number_ok
        if ok_before is None or ok_before == ok_after:
            continue
        tile = annotate(Image.fromarray(to_rgb(read_image(sample.image_path))), after.detections)
        drawn = read_number(canvas.ids, canvas.truth).replace("\n", "/")
        caption = f"{'gained' if ok_after else 'lost'}: {drawn}"
        colour = (0, 128, 0) if ok_after else (200, 0, 0)
        ImageDraw.Draw(tile).text((4, 370), caption, fill=colour, font=ImageFont.load_default(size=26))
        tiles.append(tile)
    grid(tiles, columns=8, tile_size=200).save(out)
    print(f"{len(tiles)} canvases read differently, drawn in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", nargs="+", required=True, help="DATA:SPLIT of training canvases")
    parser.add_argument("--eval", nargs="+", required=True, help="DATA:SPLIT to read")
    parser.add_argument("--cache", type=Path, default=Path("runs/learned_containment"))
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--hidden", type=int, default=HIDDEN_UNITS)
    parser.add_argument("--sheet", type=Path, default=None)
    parser.add_argument("--sheet-p", type=float, default=0.8)
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.from_weights(args.weights, device="cpu", backend="torch")
    detector.metadata = replace(detector.metadata, containment_keep=None)
    threshold = detector.containment_threshold
    assert threshold is not None
    rows = [training_rows(detector, cached(detector, text, args.cache), threshold) for text in args.fit]
    x, y = np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    print(f"fit: {len(y)} dropped boxes, {int(y.sum())} whole objects")
    rule = fit_keep_rule(x, y, len(detector.class_names), hidden=args.hidden)
    for text in args.eval:
        canvases = cached(detector, text, args.cache)
        print(f"{text}: no keep rule {read_with(detector, canvases, None)}")
        print(f"{text}: oracle {oracle(detector, canvases)}")
        for p in MIN_PROBABILITIES:
            counts = read_with(detector, canvases, replace(rule, min_probability=p))
            print(f"{text}: keep at p >= {p:g} {counts}")
    if args.sheet is not None:
        flip_sheet(detector, args.eval[-1], canvases, replace(rule, min_probability=args.sheet_p), args.sheet)


if __name__ == "__main__":
    main()

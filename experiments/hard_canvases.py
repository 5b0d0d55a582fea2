"""A fine-tuning set weighted towards the training canvases the shipped model finds wrong.

    .venv/bin/python experiments/hard_canvases.py --caches runs/sel/fitc.npz runs/sel/fitc2.npz \
        runs/sel/fitc3.npz --sets data/fitc data/fitc2 data/fitc3 --out data/hard --normal 30000 --repeat 2

Hard-example mining for the detector. ``experiments/learned_selection.py collect`` stored, for every
training-pool canvas (``data/fitc*``, drawn from the training glyphs only), its true boxes and what the
shipped pipeline shows. A canvas is *hard* when it is read wrong and the detector is to blame: a true digit
with no shown box at IoU 0.5, or more digit boxes shown than drawn. Canvases read wrong with every digit
boxed (a naming error) count as normal ones. The set links (does not copy) every hard canvas ``--repeat``
times and ``--normal`` others drawn at random, with the validation split of ``data/synth`` linked in, for
``python -m digit_detector train data.root=OUT``.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np

from digit_detector.boxes import box_iou
from digit_detector.data.yolo_format import list_images
from digit_detector.reading import read_number

MATCH_IOU = 0.5


def sort_canvases(cache: Path, data: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """The images of ``data``'s training split as (hard, read right, misnamed), from ``cache``
    (``learned_selection.py collect`` of the same split, one entry per image in listing order)."""
    stored = np.load(cache, allow_pickle=True)
    truths, ids_of, shown_of = (stored[key] for key in ("truth", "ids", "shipped"))  # each read once
    images = list_images(data / "images" / "train")
    if len(images) != len(truths):
        raise SystemExit(f"{cache} holds {len(truths)} canvases, {data} {len(images)}")
    hard: list[Path] = []
    read_right: list[Path] = []
    misnamed: list[Path] = []
    for image, truth, ids, (shown_ids, shown_boxes) in zip(images, truths, ids_of, shown_of, strict=True):
        truth = np.asarray(truth, np.float64).reshape(-1, 4)
        shown = np.asarray(shown_boxes, np.float64).reshape(-1, 4)
        ids = [int(c) for c in ids]
        shown_ids = [int(c) for c in shown_ids]
        if read_number(ids, truth) == read_number(shown_ids, shown):
            read_right.append(image)
            continue
        digits = [i for i, c in enumerate(ids) if c < 10]
        overlap = np.asarray(box_iou(truth[digits], shown))
        unboxed = int((overlap.max(axis=1) < MATCH_IOU).sum()) if overlap.shape[1] else len(digits)
        extra = sum(c < 10 for c in shown_ids) > len(digits)
        (hard if unboxed or extra else misnamed).append(image)
    return hard, read_right, misnamed


def link(image: Path, out: Path, name: str) -> None:
    """``image`` and its label file linked into ``out``'s training split as ``name``."""
    source = image.resolve()
    label = source.parent.parent.parent / "labels" / "train" / f"{source.stem}.txt"
    os.symlink(source, out / "images" / "train" / f"{name}.png")
    os.symlink(label, out / "labels" / "train" / f"{name}.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caches", type=Path, nargs="+", required=True)
    parser.add_argument("--sets", type=Path, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--normal", type=int, default=30000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--val", type=Path, default=Path("data/synth"))
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if len(args.caches) != len(args.sets):
        parser.error("one cache per set")
    hard: list[Path] = []
    read_right: list[Path] = []
    misnamed: list[Path] = []
    for cache, data in zip(args.caches, args.sets, strict=True):
        found = sort_canvases(cache, data)
        print(f"{data}: {len(found[0])} hard, {len(found[2])} misnamed of {sum(map(len, found))} canvases")
        hard += found[0]
        read_right += found[1]
        misnamed += found[2]
    normal = read_right + misnamed
    chosen = random.Random(args.seed).sample(normal, min(args.normal, len(normal)))
    for kind in ("images", "labels"):
        (args.out / kind / "train").mkdir(parents=True)
        os.symlink((args.val / kind / "val").resolve(), args.out / kind / "val")
    (args.out / "meta").mkdir()
    os.symlink((args.val / "meta" / "val.jsonl").resolve(), args.out / "meta" / "val.jsonl")
    (args.out / "data.yaml").write_text((args.sets[0] / "data.yaml").read_text())
    for image in chosen:
        link(image, args.out, image.stem)
    for copy in range(args.repeat):
        for image in hard:
            link(image, args.out, f"{image.stem}_hard{copy}")
    print(f"{args.out}: {len(chosen)} normal canvases and {len(hard)} hard ones x {args.repeat}")


if __name__ == "__main__":
    main()

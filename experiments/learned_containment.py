"""How much of the containment headroom a keep rule learnt from training canvases reads, on several splits.

    .venv/bin/python experiments/learned_containment.py --fit data/fitc:train data/fitc2:train \
        --eval data/synth:val data/val2:val --cache runs/learned_containment [--weights FILE]

The library's recipe (``digit_detector.training.keep_rule``, behind ``namer keep-rule``) fitted on the
``--fit`` canvases, then read on each ``--eval`` split at every threshold of ``MIN_PROBABILITIES``, beside
the rule without it and the oracle (every dropped box that is a whole object kept: the most a keep rule
could read). ``namer keep-rule`` chooses its threshold on one val split; this shows whether the choice
holds on others. One pass per canvas (containment off) is cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import ReadingCounts, read_canvas
from digit_detector.reading import read_number
from digit_detector.training.keep_rule import (
    HIDDEN_UNITS,
    MIN_PROBABILITIES,
    Canvas,
    collect,
    fit_keep_rule,
    read_with,
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
        dropped = [d and not k for d, k in zip(dropped, whole_objects(canvas, dropped), strict=True)]
        kept = [d for d, drop in zip(detections, dropped, strict=True) if not drop]
        boxes = np.array([d.box for d in kept], np.float64).reshape(-1, 4)
        shown = replace(canvas.result, detections=kept, number=read_number([d.class_id for d in kept], boxes))
        counts.add(read_canvas(canvas.ids, canvas.truth, shown))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", nargs="+", required=True, help="DATA:SPLIT of training canvases")
    parser.add_argument("--eval", nargs="+", required=True, help="DATA:SPLIT to read")
    parser.add_argument("--cache", type=Path, default=Path("runs/learned_containment"))
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--hidden", type=int, default=HIDDEN_UNITS)
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


if __name__ == "__main__":
    main()

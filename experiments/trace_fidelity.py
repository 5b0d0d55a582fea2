"""Which MNIST originals the data engine redraws as another digit: the trace read by a classifier that never
saw that original.

    .venv/bin/python experiments/trace_fidelity.py --out runs/trace_fidelity [--folds 5] [--epochs 12]

The engine draws an MNIST digit by tracing its centre lines and inking them again
(:func:`digit_detector.data.objects.trace_mnist`). 4.3.0 skips traces that draw back under 80 % of the
glyph's ink (a filled loop thinned to a line); a trace can still cover the ink and read as another digit
(an open `4` closed into a `9`, a `7`'s hook lost). Here every original that the engine would draw is cut
twice, as it is and as its trace drawn back at its own stroke width
(:func:`digit_detector.data.strokes.drawn_back`), and the label audit's crop CNN is cross-validated over
both (each fold's model trained on the other folds' originals and traces, labels as given; with
``--train-on originals`` on their originals only). An original is
a suspect when the model reads its own glyph as its label but its trace as another digit; ``suspects.csv``
lists them (``digit,index,split,original_p,trace_p,trace_reads,excluded``, most doubtful trace first)
and ``suspects.png`` shows each original beside its trace (``x``: already excluded), for a reader to
decide, as the label audit's list was decided (:data:`digit_detector.data.sources.MNIST_EXCLUDED_FILE`).

The originals the label audit excluded are left out. So are, with ``--train-on originals``, the rows
the first run (``--train-on both``) added (reason ``traced:``), as when that run was made; the rows of
either run are otherwise in the run, marked, so that both runs list again what they listed.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from digit_detector.audit.classifier import (
    AuditConfig,
    build_classifier,
    cut_crop,
    predict_proba,
    stratified_folds,
    to_tensor,
    train_classifier,
)
from digit_detector.audit.mnist import split_of
from digit_detector.data import sources
from digit_detector.data.objects import MIN_TRACE_COVERAGE, trace_mnist
from digit_detector.data.strokes import drawn_back, trace_coverage
from digit_detector.render import grid


def ink_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def left_out(train_on: str) -> set[tuple[int, int]]:
    """The excluded originals a run leaves out: the label audit's, and the first run's for the second."""
    kept = ("traced",) if train_on == "both" else ("traced (originals)",)
    return {key for key, reason in sources.mnist_exclusion_reasons().items() if not reason.startswith(kept)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/trace_fidelity"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--sheet", type=int, default=160, help="suspects drawn on the sheet")
    parser.add_argument(
        "--train-on",
        choices=("both", "originals"),
        default="both",
        help="what each fold's model learns from: originals and traces, or originals only (a reader of "
        "originals, who has not learnt the tracer's ways: a `6` whose loop the trace lost reads as a `C`)",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = AuditConfig(folds=args.folds, epochs=args.epochs, crop=32)
    excluded = sources.mnist_excluded()
    skipped = left_out(args.train_on)
    digits = sources.load_mnist()
    originals, traces, refs = [], [], []
    for digit, images in enumerate(digits):
        for index, image in enumerate(tqdm(images, desc=f"tracing {digit}", leave=False)):
            if (digit, index) in skipped:
                continue
            strokes, binary = trace_mnist(image)
            if not strokes or trace_coverage(binary, strokes) < MIN_TRACE_COVERAGE:
                continue  # the engine does not draw it
            redrawn = drawn_back(binary, strokes)
            if not redrawn.any():
                continue
            originals.append(cut_crop(255 - image, ink_box(image > sources.MNIST_INK_LEVEL), config.crop))
            traces.append(cut_crop(np.where(redrawn, 0, 255).astype(np.uint8), ink_box(redrawn), config.crop))
            refs.append((digit, index))
    labels = np.array([digit for digit, _ in refs], dtype=np.int64)
    x_orig, x_trace = to_tensor(np.stack(originals)), to_tensor(np.stack(traces))
    y = torch.from_numpy(labels)
    assignment = stratified_folds(labels, config.folds, config.seed)
    p_orig = np.zeros((len(labels), 10))
    p_trace = np.zeros((len(labels), 10))
    for fold in tqdm(range(config.folds), desc="folds"):
        held = torch.from_numpy(np.flatnonzero(assignment == fold))
        train = torch.from_numpy(np.flatnonzero(assignment != fold))
        torch.manual_seed(fold)
        generator = torch.Generator().manual_seed(fold)
        model = build_classifier(config.model, config.crop)
        if args.train_on == "both":
            train_classifier(
                model,
                torch.cat([x_orig[train], x_trace[train]]),
                torch.cat([y[train], y[train]]),
                config,
                generator,
            )
        else:
            train_classifier(model, x_orig[train], y[train], config, generator)
        p_orig[held.numpy()] = predict_proba(model, x_orig[held])[:, :10]
        p_trace[held.numpy()] = predict_proba(model, x_trace[held])[:, :10]
    rows = np.arange(len(labels))
    orig_right, trace_right = p_orig[rows, labels], p_trace[rows, labels]
    print(
        f"{len(labels)} drawn originals: originals read {np.mean(p_orig.argmax(1) == labels):.2%}, "
        f"traces read {np.mean(p_trace.argmax(1) == labels):.2%}"
    )
    suspect = (p_orig.argmax(1) == labels) & (p_trace.argmax(1) != labels)
    order = [i for i in np.argsort(trace_right) if suspect[i]]
    counts = [len(images) for images in digits]
    by_split: dict[str, int] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "suspects.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["digit", "index", "split", "original_p", "trace_p", "trace_reads", "excluded"])
        for i in order:
            digit, idx = refs[i]
            split = split_of(counts[digit], idx)
            by_split[split] = by_split.get(split, 0) + 1
            writer.writerow([digit, idx, split, f"{orig_right[i]:.3f}", f"{trace_right[i]:.3f}",
                             int(p_trace[i].argmax()), int((digit, idx) in excluded)])  # fmt: skip
    print(f"{len(order)} suspects (original read right, trace read as another digit): {by_split}")
    for threshold in (0.5, 0.2, 0.05):
        print(f"  trace gives its label < {threshold}: {int((suspect & (trace_right < threshold)).sum())}")
    font = ImageFont.load_default(size=12)
    tiles = []
    for i in order[: args.sheet]:
        digit, idx = refs[i]
        tile = Image.new("RGB", (150, 96), "white")
        tile.paste(Image.fromarray(originals[i]).resize((64, 64)), (4, 28))
        tile.paste(Image.fromarray(traces[i]).resize((64, 64)), (80, 28))
        draw = ImageDraw.Draw(tile)
        mark = " x" if (digit, idx) in excluded else ""
        draw.text((3, 1), f"{digit}/{idx} {split_of(counts[digit], idx)}{mark}", fill=(200, 0, 0), font=font)
        reads = f"trace: {int(p_trace[i].argmax())} ({trace_right[i]:.2f})"
        draw.text((3, 14), reads, fill=(0, 120, 0), font=font)
        tiles.append(tile)
    if tiles:
        grid(tiles, 8, tile_size=(150, 96)).save(args.out / "suspects.png")


if __name__ == "__main__":
    main()

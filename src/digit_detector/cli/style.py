"""``style``: all ten digits in the style of one drawn digit; training and measuring the style model.

    python -m digit_detector style IMAGE --out row.png [--label D] [--with-input] [--sample --seed N]
    python -m digit_detector style train [--minutes 20] ...     # see `style train --help`
    python -m digit_detector style eval [--n 1000] ...          # see `style eval --help`

The work is done by :mod:`digit_detector.style.analogy` (``style IMAGE``), :mod:`~digit_detector.style.train`
and :mod:`~digit_detector.style.evaluate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_detector.cli import recorded_command

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers

HELP = "all ten digits in the style of one drawn digit (also `style train`, `style eval`)"


# --------------------------------------------------------------------------- style IMAGE


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.style.analogy import DEFAULT_RENDER, RENDERS, TILE_SIZE
    from digit_detector.style.model import DEFAULT_STYLE_WEIGHTS
    from digit_detector.weights import DEFAULT_WEIGHTS

    parser = subparsers.add_parser(
        "style",
        help=HELP,
        description=(
            "Draw all ten digits in the style of the digit drawn in IMAGE: the detector finds the digit and "
            "its label, the style CVAE encodes its style and decodes 0-9 with it, written as one image row. "
            "Also: `style train` (train the CVAE), `style eval` (measure it)."
        ),
        epilog="Exit code 1: unreadable image or no digit found (give --label); 2: unusable weights.",
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="a drawing (any image; RGBA on white)")
    parser.add_argument(
        "--out", type=Path, default=Path("style_row.png"), help="output PNG (default style_row.png)"
    )
    parser.add_argument(
        "--label",
        type=int,
        choices=range(10),
        default=None,
        metavar="D",
        help="the digit drawn (default: detected)",
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help=f"style weights (default {DEFAULT_STYLE_WEIGHTS.name})"
    )
    parser.add_argument(
        "--detector-weights",
        type=Path,
        default=None,
        help=f"detector weights (default {DEFAULT_WEIGHTS.name})",
    )
    parser.add_argument(
        "--sample", action="store_true", help="sample the style from q(z|x,y) (default: its mean)"
    )
    parser.add_argument(
        "--strength",
        type=float,
        default=None,
        metavar="S",
        help="style strength, 0 (average hand) to 1 (your style fully) (default: the weights')",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0)")
    parser.add_argument("--tile", type=int, default=TILE_SIZE, help=f"tile size in px (default {TILE_SIZE})")
    parser.add_argument("--with-input", action="store_true", help="show the input crop first ('yours')")
    parser.add_argument(
        "--render",
        choices=RENDERS,
        default=DEFAULT_RENDER,
        help=f"crisp: pen strokes at your digit's pen width; soft: the decoder's bitmap "
        f"(default {DEFAULT_RENDER})",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from digit_detector.detector import Detector
    from digit_detector.io import read_image
    from digit_detector.preprocess import ImageInputError
    from digit_detector.style.analogy import NoDigitError, style_row
    from digit_detector.style.crops import NoInkError
    from digit_detector.style.model import load_style_model, style_strength
    from digit_detector.weights import WeightsError

    torch.set_num_threads(1)
    try:
        model, record = load_style_model(args.weights)
        detector = Detector.from_weights(args.detector_weights, device="cpu")
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        row = style_row(
            model,
            read_image(args.image),
            detector,
            args.label,
            sample=args.sample,
            seed=args.seed,
            strength=style_strength(record) if args.strength is None else args.strength,
            render=args.render,
        )
    except (ImageInputError, NoDigitError, NoInkError) as error:
        print(f"error: {args.image}: {error}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    row.image(args.tile, with_input=args.with_input).save(args.out)
    where = ""
    if row.detection is not None:
        box = ", ".join(f"{v:.0f}" for v in row.detection.box)
        where = f" from the {row.detection.label} box [{box}] (score {row.detection.score:.2f})"
    print(f"{args.image}: digit {row.label} ({row.label_source}){where} -> {args.out}")
    return 0


# --------------------------------------------------------------------------- style train


def add_train_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.style.crops import DEFAULT_DATA
    from digit_detector.style.model import DEFAULT_STYLE_WEIGHTS, CVAEConfig
    from digit_detector.style.train import TrainSettings

    parser = subparsers.add_parser(
        "train",
        help="train the style CVAE",
        description="Train the style CVAE from scratch on CPU within a time budget, save it with metadata "
        "and evaluate it on the test split.",
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="time budget (default 15)")
    parser.add_argument("--epochs", type=int, default=None, help="stop after this many epochs (also)")
    parser.add_argument("--n-train", type=int, default=50_000, help="training crops (default 50000)")
    parser.add_argument("--n-val", type=int, default=2_000, help="validation crops (default 2000)")
    parser.add_argument("--latent", type=int, default=CVAEConfig.latent, help="latent dimensions")
    parser.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    parser.add_argument("--lr", type=float, default=TrainSettings.lr)
    parser.add_argument("--beta", type=float, default=TrainSettings.beta, help="KL weight after warm-up")
    parser.add_argument(
        "--class-weight",
        type=float,
        default=TrainSettings.class_weight,
        help="weight of the critic's loss on analogies (0: a plain CVAE)",
    )
    parser.add_argument(
        "--cycle-weight",
        type=float,
        default=TrainSettings.cycle_weight,
        help="weight of the style cycle loss",
    )
    parser.add_argument(
        "--critic-sharpness",
        type=float,
        default=TrainSettings.critic_sharpness,
        help=(
            "the critic judges analogies thresholded softly at the crisp ink's level, sigmoid(K (p - "
            "level)), so strokes drawn too faintly for the crisp ink count against them (0: the soft bitmap)"
        ),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="crop cache folder (default data/style)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_STYLE_WEIGHTS, help="weights file to write")
    parser.add_argument("--version", default="style-cvae-v1", help="version string in the metadata")
    parser.add_argument(
        "--eval-n", type=int, default=1000, help="test inputs to evaluate on after training (0: skip)"
    )
    parser.set_defaults(func=run_train)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import torch

    from digit_detector.style.crops import CROP_SIZE, TRAIN_SEED, VAL_SEED, load_or_make_crops
    from digit_detector.style.model import CVAEConfig, count_parameters, save_style_model
    from digit_detector.style.train import TrainSettings, train_model

    command = recorded_command(args)
    torch.set_num_threads(args.threads)
    train = load_or_make_crops(args.data, "train", args.n_train, TRAIN_SEED)
    val = load_or_make_crops(args.data, "val", args.n_val, VAL_SEED) if args.n_val > 0 else None
    config = CVAEConfig(size=CROP_SIZE, latent=args.latent)
    settings = TrainSettings(
        minutes=args.minutes,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        beta=args.beta,
        class_weight=args.class_weight,
        cycle_weight=args.cycle_weight,
        critic_sharpness=args.critic_sharpness,
        seed=args.seed,
        threads=args.threads,
    )
    result = train_model(train, config, settings, val)
    record: dict[str, Any] = {
        "version": args.version,
        "input": {"size": CROP_SIZE, "ink": "1 = black pen, 0 = paper; tight ink box fitted keeping aspect"},
        "training": {
            "command": command,
            "settings": asdict(settings),
            "data": {
                "train": {"split": "train", "n": args.n_train, "seed": TRAIN_SEED},
                "val": {"split": "val", "n": args.n_val, "seed": VAL_SEED},
                "source": "ObjectFactory digits (MNIST train part, train fonts, Hershey), canvas look",
            },
            "seconds": round(result.seconds, 1),
            "epochs": round(result.epochs, 2),
            "steps": result.steps,
            "parameters": count_parameters(result.model),
            "device": "cpu",
            "torch": torch.__version__,
            "history": result.history,
        },
        "metrics": {},
    }
    path = save_style_model(result.model, record, args.out)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) after {result.seconds / 60:.1f} min, "
        f"{result.epochs:.1f} epochs"
    )
    if args.eval_n > 0:
        from digit_detector.cli import main

        return main(
            ["style", "eval", "--weights", str(path), "--n", str(args.eval_n), "--data", str(args.data)]
        )
    return 0


# --------------------------------------------------------------------------- style eval


def add_eval_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.style.analogy import DEFAULT_RENDER, RENDERS
    from digit_detector.style.crops import DEFAULT_DATA
    from digit_detector.style.evaluate import READABLE_GOAL, STRENGTH_GRID

    parser = subparsers.add_parser(
        "eval",
        help="measure the style CVAE",
        description="Measure the style CVAE on test-split digits: readability of every analogy by the "
        "detector, slant and thickness correlations, against baselines that ignore the input.",
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help="style weights (default weights/style-cvae)"
    )
    parser.add_argument(
        "--detector-weights", type=Path, default=None, help="detector weights (default: the shipped model)"
    )
    parser.add_argument("--n", type=int, default=1000, help="test digits as inputs (default 1000)")
    parser.add_argument(
        "--n-val", type=int, default=400, help="validation digits for --choose-strength (default 400)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the prior baseline and paste sizes")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="crop cache folder (default data/style)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--no-detector", action="store_true", help="correlations only (no readability)")
    parser.add_argument(
        "--strength",
        type=float,
        default=None,
        help="style strength to evaluate (default: the weights', else 1.0)",
    )
    parser.add_argument(
        "--choose-strength",
        action="store_true",
        help=f"first choose the style strength on --n-val validation digits (the strongest of "
        f"{', '.join(f'{s:g}' for s in STRENGTH_GRID)} read top-1 >= {READABLE_GOAL:.0%}%), store it in the "
        "weights' metadata, then evaluate on the test split at it",
    )
    parser.add_argument(
        "--render",
        choices=RENDERS,
        default=DEFAULT_RENDER,
        help=f"how the digits are inked: crisp pen strokes at the input's pen width or the decoder's soft "
        f"bitmap (default {DEFAULT_RENDER})",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write the metrics into the metadata")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument(
        "--sheet", type=Path, default=None, help="also write example rows (input, then 0-9) to this PNG"
    )
    parser.set_defaults(func=run_eval)
    return parser


def run_eval(args: argparse.Namespace) -> int:
    import torch

    from digit_detector.detector import Detector
    from digit_detector.style.crops import TEST_SEED, VAL_SEED, load_or_make_crops
    from digit_detector.style.evaluate import (
        READABLE_GOAL,
        choose_strength,
        evaluate,
        example_sheet,
        format_report,
        strength_curve,
    )
    from digit_detector.style.model import default_style_weights_path, load_style_model, style_strength
    from digit_detector.weights import WeightsError, default_weights_path, metadata_path, write_record

    command = recorded_command(args)
    torch.set_num_threads(args.threads)
    weights = Path(args.weights) if args.weights is not None else default_style_weights_path()
    try:
        model, record = load_style_model(weights)
        detector = None
        if not args.no_detector:
            detector = Detector.from_weights(args.detector_weights, device="cpu")
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    strength = style_strength(record) if args.strength is None else args.strength
    choice: dict[str, Any] | None = None
    if args.choose_strength:
        if detector is None:
            print("error: --choose-strength needs the detector (drop --no-detector)", file=sys.stderr)
            return 2
        val_crops = load_or_make_crops(args.data, "val", args.n_val, VAL_SEED)
        curve = strength_curve(model, val_crops, detector, seed=args.seed, render=args.render)
        strength = choose_strength(curve)
        choice = {
            "split": "val",
            "n": args.n_val,
            "seed": VAL_SEED,
            "goal_top1": READABLE_GOAL,
            "curve": curve,
        }
        for point in curve:
            print(
                f"  val strength {point['strength']:.1f}: read top-1 {point['read_top1']:.3f}, "
                f"at threshold {point['read_at_threshold']:.3f}, slant r {point['slant_r']:.3f}, "
                f"thickness r {point['thickness_r']:.3f}",
                file=sys.stderr,
            )
        print(f"chosen style strength: {strength:g}", file=sys.stderr)
    crops = load_or_make_crops(args.data, "test", args.n, TEST_SEED)
    if args.sheet is not None:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        example_sheet(model, crops, strength=strength, render=args.render).save(args.sheet)
        print(f"example rows written to {args.sheet}", file=sys.stderr)
    report = evaluate(model, crops, detector, args.seed, strength=strength, render=args.render)
    if choice is not None:
        report["strength_choice"] = choice
    elif args.strength is None and "strength_choice" in record.get("metrics", {}).get("test", {}):
        report["strength_choice"] = record["metrics"]["test"]["strength_choice"]  # the stored strength's
    report["command"] = command
    report["data"] = {"split": "test", "n": args.n, "seed": TEST_SEED}
    if detector is not None:
        detector_path = args.detector_weights or default_weights_path()
        report["detector"] = {"weights": Path(detector_path).name, "version": detector.metadata.version}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not args.no_save:
        record.setdefault("metrics", {})["test"] = report
        record["style_strength"] = strength
        write_record(weights, record)
        print(f"metrics written to {metadata_path(weights)}", file=sys.stderr)
    return 0


#: ``style train`` and ``style eval``: their own parsers, chosen by the argument after ``style``.
SUBCOMMANDS: dict[str, Callable[[Subparsers], argparse.ArgumentParser]] = {
    "train": add_train_parser,
    "eval": add_eval_parser,
}

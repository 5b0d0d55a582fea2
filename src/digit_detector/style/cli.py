"""``python -m digit_detector style``: all ten digits in the style of one drawn digit.

python -m digit_detector style IMAGE --out row.png [--label D] [--with-input] [--sample --seed N]
python -m digit_detector style train [--minutes 20] ...     # see `style train --help`
python -m digit_detector style eval [--n 1000] ...          # see `style eval --help`
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from digit_detector.preprocess import ImageInputError
from digit_detector.style.analogy import TILE_SIZE, NoDigitError, style_row
from digit_detector.style.crops import NoInkError
from digit_detector.style.model import DEFAULT_STYLE_WEIGHTS, load_style_model, style_strength
from digit_detector.weights import DEFAULT_WEIGHTS, WeightsError

SUBCOMMANDS = {"train": "digit_detector.style.train", "eval": "digit_detector.style.evaluate"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m digit_detector style",
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
    return parser


def run_style(args: argparse.Namespace) -> int:
    from digit_detector.detector import Detector
    from digit_detector.io import read_image

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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[argv[0]])
        exit_code: int = module.main(argv[1:])
        return exit_code
    return run_style(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

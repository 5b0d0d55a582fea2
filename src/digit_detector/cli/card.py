"""``card [--weights FILE] [--out FILE]``: the model card of weights (:mod:`digit_detector.model_card`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers

HELP = "write the model card of weights from their own metadata"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector import model_card

    parser = subparsers.add_parser("card", help=HELP, description=(model_card.__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--weights", type=Path, default=None, help="weights file (default: the shipped model)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write here instead of printing")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from digit_detector.model_card import render_card
    from digit_detector.weights import WeightsError, default_weights_path, read_metadata

    weights = args.weights or default_weights_path()
    try:
        metadata = read_metadata(weights)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    card = render_card(metadata, weights.name)
    if args.out is None:
        print(card, end="")
    else:
        args.out.write_text(card, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0

"""``train [hydra overrides]``: train a detector with Lightning (see :mod:`digit_detector.training.train`).

The arguments are Hydra overrides (``experiment=cpu_tiny data.root=DIR``), passed through as they are;
``train --help`` prints the training module's description and the composed configuration.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from digit_detector.cli import recorded_command

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers

HELP = "train a model with Lightning + Hydra overrides (see `train --help`)"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    # No options of its own: every argument, "-h" and "--help" included, is an override. A prefix
    # character nobody types keeps argparse from taking "--help" (or "-x") for an unknown option.
    parser = subparsers.add_parser("train", help=HELP, add_help=False, prefix_chars="\0")
    parser.add_argument("overrides", nargs=argparse.REMAINDER)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from digit_detector.training import train as training

    overrides: list[str] = list(args.overrides)
    if overrides and overrides[0] in ("-h", "--help"):
        print(training.__doc__)
        print(
            "Config (configs/train.yaml and its groups); override any key,"
            " e.g. experiment=cpu_tiny data.root=DIR:\n"
        )
        print(OmegaConf.to_yaml(training.load_config([])))
        return 0
    cfg = training.load_config(overrides)
    try:
        training.check_ship(cfg)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    training.train(cfg, recorded_command(args))
    return 0

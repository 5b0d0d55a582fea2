"""``python -m digit_detector data ...``: the data engine's commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from digit_detector.data import anchors, autolabel, coco, show, synth
from digit_detector.data.importers import dataset as importers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m digit_detector data",
        description="Make, import, export and auto-label datasets in the project's YOLO layout.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (synth, show, importers, coco, autolabel, anchors):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code

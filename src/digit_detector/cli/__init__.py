"""Command line: ``python -m digit_detector COMMAND ...`` (``digit-detector COMMAND ...`` when installed).

One module per command in this package:

- ``predict`` (:mod:`.predict`): detect the drawn objects in images and read the number they spell;
- ``data`` (:mod:`.data`): ``data synth | show | import | export-coco | autolabel | anchors``, the data
  engine's commands;
- ``train`` (:mod:`.train`): train a detector with Lightning, Hydra overrides passed through;
- ``eval`` (:mod:`.evaluate`): evaluate weights on a dataset split: mAP, plots, JSON report;
- ``namer`` (:mod:`.namer`): ``namer train | attach``, the crop classifier that names detected boxes;
- ``card`` (:mod:`.card`): the model card of weights, from their own metadata;
- ``export`` (:mod:`.export`): weights to ONNX, decoding included;
- ``audit`` (:mod:`.audit`): find mislabelled boxes with cross-validated crop classifiers, apply fixes;
- ``style`` (:mod:`.style`): ``style IMAGE`` (all ten digits in the style of one), ``style train``,
  ``style eval``.

Every command module has ``HELP`` (its line in ``--help``), ``add_parser(subparsers)`` (adds its parser,
with ``run`` as ``func``, and returns it) and ``run(args) -> int`` (the exit code). A command whose first
argument picks one of several parsers (``style train``) lists them in ``SUBCOMMANDS``. Command modules
import nothing heavy when loaded: only the chosen command's parser is built and only its ``run`` imports
the domain modules, so ``predict`` works with the app's requirements alone while the other commands may
need the training stack (requirements-dev.txt). Domain modules never import argparse.

``--version`` prints the package's version and the default weights' (from their JSON record), torch-free.
"""

from __future__ import annotations

import argparse
import importlib
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

DESCRIPTION = "Handwritten digit detector: box and name every object drawn on a canvas."
#: Command name -> its module in this package, in the order of ``--help``.
COMMANDS = {
    "predict": "predict",
    "data": "data",
    "train": "train",
    "eval": "evaluate",
    "namer": "namer",
    "card": "card",
    "export": "export",
    "audit": "audit",
    "style": "style",
}
#: How recorded commands (weights metadata, model cards) start, whatever the program was called as.
RECORDED_PROG = "python -m digit_detector"


def program_name() -> str:
    """``digit-detector`` when run as the console script, else ``python -m digit_detector``."""
    return "digit-detector" if Path(sys.argv[0]).name == "digit-detector" else RECORDED_PROG


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{COMMANDS[name]}")


def recorded_command(args: argparse.Namespace) -> str:
    """The command line as weights metadata records it: ``python -m digit_detector`` + the arguments."""
    argv = getattr(args, "argv", None)
    return f"{RECORDED_PROG} " + shlex.join(list(sys.argv[1:] if argv is None else argv))


def _int_at_least(text: str, low: int) -> int:
    value = int(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type`` for an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse ``type`` for an integer >= 0."""
    return _int_at_least(text, 0)


def _number_between(text: str, low: float, high: float, what: str = "a number") -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what} from {low:g} to {high:g}, got {text!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise argparse.ArgumentTypeError(f"must be {what} from {low:g} to {high:g}, got {text!r}")
    return value


def unit_interval(text: str) -> float:
    """argparse ``type`` for a threshold: a finite number from 0 to 1 (``nan``, ``inf``, -1 and 2 are refused,
    with exit code 2)."""
    return _number_between(text, 0.0, 1.0)


def crop_margin(text: str) -> float:
    """argparse ``type`` for a crop's margin, in box sides beyond the box on each side: 0.05 to 4."""
    return _number_between(text, 0.05, 4.0, "a margin")


def degrees_up_to_180(text: str) -> float:
    """argparse ``type`` for an angle's range: a finite number of degrees from 0 to 180."""
    return _number_between(text, 0.0, 180.0, "a number of degrees")


def version_text() -> str:
    """``digit-detector 4.3.0 (weights yolov3-tiny-v11.0.0)``: the package's version and the version recorded
    in the default weights' JSON metadata (``$DIGIT_DETECTOR_WEIGHTS`` or the shipped ones), read without
    importing torch."""
    from digit_detector import __version__
    from digit_detector.bundled import default_weights_path, weights_version

    weights = default_weights_path()
    version = weights_version(weights)
    described = f"weights {version}" if version else f"weights {weights}: no version record beside them"
    return f"digit-detector {__version__} ({described})"


class VersionAction(argparse.Action):
    """``--version``: prints :func:`version_text` and exits; the text is made only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str = "") -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(version_text())  # on stdout, as argparse's own version action
        parser.exit()


def build_parser(argv: Sequence[str] = ()) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser, and the parser of the command ``argv`` chooses (the top-level one if none).

    Only the chosen command gets its full parser; the others are listed with their help line."""
    parser = argparse.ArgumentParser(prog=program_name(), description=DESCRIPTION)
    version_help = "print the package's and the default weights' versions and exit"
    parser.add_argument("--version", action=VersionAction, help=version_help)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = parser
    for name in COMMANDS:
        module = command_module(name)
        if not argv or argv[0] != name:
            subparsers.add_parser(name, help=module.HELP, add_help=False)
            continue
        nested = getattr(module, "SUBCOMMANDS", {})
        if len(argv) > 1 and argv[1] in nested:
            outer = subparsers.add_parser(name, help=module.HELP)
            inner = outer.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
            chosen = nested[argv[1]](inner)
        else:
            chosen = module.add_parser(subparsers)
    return parser, chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse exits with 2 on bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, chosen = build_parser(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        chosen.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = argv
    exit_code: int = args.func(args)
    return exit_code

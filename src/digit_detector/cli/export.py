"""``export --format onnx``: weights to ONNX, decoding included (:mod:`digit_detector.export`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers

HELP = "export weights to ONNX, decoding included (see `export --help`)"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.export import DEFAULT_OPSET
    from digit_detector.weights import DEFAULT_WEIGHTS

    parser = subparsers.add_parser(
        "export",
        help=HELP,
        description=(
            "Export weights to ONNX, decoding included: the graph maps images (N, 3, S, S) to detections "
            "(N, K, 5 + C) = x1, y1, x2, y2 (model-input pixels), objectness, class probabilities, with a "
            "dynamic batch axis. The weights' metadata is embedded (metadata_props key 'digit_detector')."
        ),
    )
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="export format (default onnx)")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"weights file (.safetensors or .pt; default {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--arch", default=None, metavar="NAME", help="architecture of a plain .pt state_dict (e.g. yolov3)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="output file (default: the weights path, .onnx)",
    )
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, metavar="N", help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Exit code 2 when the weights cannot be loaded or exported."""
    from digit_detector.export import export_onnx
    from digit_detector.weights import WeightsError

    try:
        out = export_onnx(args.weights, args.out, args.opset, arch=args.arch)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0

"""Command line: ``python -m digit_detector {predict,data} ...``.

Commands that need the training stack (``data``) are dispatched to their own parser and imported only
when used, so ``predict`` works with the app's requirements alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from digit_detector.data.yolo_format import IMAGE_SUFFIXES
from digit_detector.detector import DetectionResult, Detector
from digit_detector.io import read_image
from digit_detector.preprocess import ImageInputError
from digit_detector.weights import DEFAULT_WEIGHTS, WeightsError

# command -> (module with a ``main(argv) -> int``, one-line help)
DISPATCHED_COMMANDS = {
    "data": ("digit_detector.data.cli", "make, import, export and auto-label datasets (see `data --help`)"),
    "train": (
        "digit_detector.training.train",
        "train a model with Lightning + Hydra overrides (see `train --help`)",
    ),
    "eval": ("digit_detector.evaluate_cli", "evaluate weights on a dataset split: mAP, plots, JSON report"),
    "namer": (
        "digit_detector.training.namer_cli",
        "train the crop classifier that names detected boxes (see `namer --help`)",
    ),
    "card": ("digit_detector.model_card", "write the model card of weights from their own metadata"),
    "export": ("digit_detector.export", "export weights to ONNX, decoding included (see `export --help`)"),
    "audit": ("digit_detector.audit.report", "find mislabelled boxes with cross-validated crop classifiers"),
    "style": (
        "digit_detector.style.cli",
        "all ten digits in the style of one drawn digit (also `style train`, `style eval`)",
    ),
}


def iter_image_paths(paths: Sequence[str]) -> Iterator[Path]:
    """Files as given; directories expand to their image files, sorted by name."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def format_table(path: Path, result: DetectionResult) -> str:
    lines = [f"{path}  number={result.number!r}  {len(result.detections)} detections  {result.ms:.1f} ms"]
    lines += [
        f"  {d.label:>8}  {d.score:5.3f}  [{d.box[0]:6.1f} {d.box[1]:6.1f} {d.box[2]:6.1f} {d.box[3]:6.1f}]"
        for d in result.detections
    ]
    return "\n".join(lines)


def run_predict(args: argparse.Namespace) -> int:
    try:
        detector = Detector.from_weights(
            args.weights,
            arch=args.arch,
            device=args.device,
            backend=args.backend,
            score_threshold=args.score,
            iou_threshold=args.iou,
            class_agnostic=not args.per_class,
        )
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failures = 0
    for path in iter_image_paths(args.paths):
        try:
            result = detector(read_image(path))
        except ImageInputError as error:
            failures += 1
            if args.json:
                print(json.dumps({"image": str(path), "error": str(error)}), flush=True)
            else:
                print(f"{path}  error: {error}", file=sys.stderr)
            continue
        print(json.dumps(result.to_json(str(path))) if args.json else format_table(path, result), flush=True)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m digit_detector",
        description="Handwritten digit detector: box and name every object drawn on a canvas.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser(
        "predict",
        help="detect objects in images and read the number they spell",
        description=(
            "Detect the drawn objects (digits 0-9, 'other', 'censored') in images and read the number "
            "the digits spell (lines top to bottom, each left to right). Exit code 1 if any image could "
            "not be read, 2 if the weights could not be loaded."
        ),
        epilog=(
            "With --json, one JSON object per image and line: "
            '{"image": str, "detections": [{"label": str, "class_id": int, "score": float, '
            '"box": [x1, y1, x2, y2]}], "number": str, "ms": float}; an unreadable image gives '
            '{"image": str, "error": str} and the run goes on. Boxes are in the image\'s pixels; ms is the '
            "preprocess + model + decode time for that image."
        ),
    )
    predict.add_argument("paths", nargs="+", metavar="PATH", help="image files or directories of images")
    predict.add_argument(
        "--weights",
        type=Path,
        default=None,
        help=f"weights file (.safetensors, .pt, or .onnx with --backend onnx; default {DEFAULT_WEIGHTS})",
    )
    predict.add_argument(
        "--arch", default=None, help="architecture of a plain .pt state_dict (e.g. yolov3); checked otherwise"
    )
    predict.add_argument(
        "--score", type=float, default=None, help="score threshold (default: the weights' metadata)"
    )
    predict.add_argument(
        "--iou", type=float, default=None, help="NMS IoU threshold (default: the weights' metadata)"
    )
    predict.add_argument(
        "--per-class",
        action="store_true",
        help="suppress duplicates per class (evaluation mode), not across classes",
    )
    predict.add_argument("--device", default=None, help="torch device (default: cuda, mps or cpu)")
    predict.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="PyTorch, or onnxruntime on the CPU (runs <weights>.onnx, exported first if missing)",
    )
    predict.add_argument("--json", action="store_true", help="print one JSON object per image")
    predict.set_defaults(func=run_predict)

    for name, (_, help_text) in DISPATCHED_COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DISPATCHED_COMMANDS:
        module = importlib.import_module(DISPATCHED_COMMANDS[argv[0]][0])
        exit_code: int = module.main(argv[1:])
        return exit_code
    args = build_parser().parse_args(argv)
    exit_code = args.func(args)
    return exit_code

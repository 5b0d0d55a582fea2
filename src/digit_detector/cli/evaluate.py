"""``eval --data DIR``: score a model on a dataset split and write the ship report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from digit_detector.devices import PRECISIONS

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers

HELP = "evaluate weights on a dataset split: mAP, plots, JSON report"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.cli import unit_interval
    from digit_detector.evaluation.report import TARGETS
    from digit_detector.weights import DEFAULT_WEIGHTS

    targets = ", ".join(f"{name} {comparison} {goal:g}" for name, (_, comparison, goal) in TARGETS.items())
    parser = subparsers.add_parser(
        "eval",
        help=HELP,
        description=(
            "Evaluate a model on a dataset split (the project's YOLO layout) against the ship targets "
            f"({targets}). Writes report.json, confusion_matrix.png, pr_curves.png and worst_errors.png."
        ),
        epilog=(
            "Exit code 0 when the evaluation ran (1 with --require-targets if a target is not met), "
            "2 when the weights or the dataset cannot be used."
        ),
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset folder (with images/<split>/)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument(
        "--weights", type=Path, default=None, help=f"weights file (default {DEFAULT_WEIGHTS})"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="report folder (default: reports/eval-<weights>-<split>)"
    )
    parser.add_argument(
        "--score", type=unit_interval, default=None, help="score threshold, 0 to 1 (default: the weights')"
    )
    parser.add_argument(
        "--choose-score",
        action="store_true",
        help="first pick the score threshold (best F1 with no blank-canvas detection) and then the "
        "containment threshold (best F1) on this split (use val), then evaluate at them",
    )
    parser.add_argument(
        "--raw-boxes",
        action="store_true",
        help="keep the boxes as the model regressed them (default: fitted to the ink they cover)",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--device", default=None, help="torch device (default: cuda, mps or cpu)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="the torch networks' precision (default: $DIGIT_DETECTOR_PRECISION, else auto: bfloat16 on "
        "a CPU with AMX, float32 elsewhere); --record reads in float32 unless told",
    )
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="PyTorch, or onnxruntime on the CPU as the app may serve it (runs <weights>.onnx, exported "
        "first if missing)",
    )
    parser.add_argument(
        "--require-targets", action="store_true", help="exit with 1 unless every ship target is met"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="also write the report into the weights' own record (metrics.<split>, read by the model card "
        "and the About page) and this command into its chain; only at the weights' own settings",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from digit_detector.cli import recorded_command
    from digit_detector.data.yolo_format import load_split, split_breakdowns
    from digit_detector.detector import Detector
    from digit_detector.devices import DeviceError
    from digit_detector.evaluation.files import save_report
    from digit_detector.evaluation.scoring import evaluate
    from digit_detector.evaluation.thresholds import choose_thresholds
    from digit_detector.weights import WeightsError, default_weights_path, record_report

    changed = [name for name in ("score", "choose_score", "raw_boxes", "limit") if getattr(args, name)]
    if args.record and changed:
        options = ", ".join("--" + name.replace("_", "-") for name in changed)
        print(f"error: --record writes the weights' own report; leave out {options}", file=sys.stderr)
        return 2
    try:
        detector = Detector.from_weights(
            args.weights,
            device=args.device,
            backend=args.backend,
            precision=args.precision or ("float32" if args.record else None),
            score_threshold=args.score,
            fit_to_ink=not args.raw_boxes,
        )
    except (WeightsError, DeviceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not (args.data / "images" / args.split).is_dir():
        print(
            f"error: no split {args.split!r} in {args.data} (expected {args.data}/images/{args.split}/)",
            file=sys.stderr,
        )
        return 2
    contents = load_split(args.data, args.split)
    for problem in contents.problems:
        print(f"skipped {problem.path}: {problem.reason}", file=sys.stderr)
    samples = contents.samples[: args.limit] if args.limit is not None else contents.samples
    if not samples:
        print(f"error: no usable images in {args.data}/images/{args.split}", file=sys.stderr)
        return 2
    if args.choose_score:
        score, containment = choose_thresholds(detector, samples, progress=not args.quiet)
        print(f"chosen score threshold: {score:g}, containment threshold: {containment}")
    report = evaluate(
        detector,
        samples,
        progress=not args.quiet,
        **split_breakdowns(args.data, args.split),
    )
    weights_name = Path(args.weights or default_weights_path()).stem
    out = save_report(report, args.out or Path("reports") / f"eval-{weights_name}-{args.split}")
    for line in report.summary_lines():
        print(line)
    print(f"report: {out / 'report.json'} (+ confusion_matrix.png, pr_curves.png, worst_errors.png)")
    if args.record:
        weights = Path(args.weights or default_weights_path())
        print(f"recorded in {record_report(weights, args.split, report.to_dict(), recorded_command(args))}")
    return 1 if args.require_targets and not report.ships else 0

"""``audit DIR --out REPORT_DIR`` and ``audit DIR --apply FILE --to OUT_DIR``: the label audit
(:mod:`digit_detector.audit.report`); ``audit --mnist --out REPORT_DIR``: the MNIST source's originals
(:mod:`digit_detector.audit.mnist`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from digit_detector.cli import positive_int

if TYPE_CHECKING:
    from digit_detector.audit.classifier import AuditConfig
    from digit_detector.cli import Subparsers

HELP = "find mislabelled boxes with cross-validated crop classifiers"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.audit.classifier import DEFAULT_EPOCHS, MODELS

    parser = subparsers.add_parser(
        "audit",
        help=HELP,
        description=(
            "Find mislabelled and doubtful boxes in a dataset (YOLO layout): every box is cut out, a small "
            "classifier is trained with K-fold cross-validation, and boxes are ranked by 1 - the "
            "out-of-fold probability of their label. Writes suspects.csv (every box, most suspect first), "
            "suspects.png, confusion_matrix.png and summary.json into --out."
        ),
        epilog=(
            "Correcting: copy suspects.csv, add a column 'action' with keep | drop | relabel:<class name> "
            "(a bare 'relabel' takes suggested_label; rows may be deleted, boxes not listed are kept) and "
            "run 'audit DIR --apply FILE --to OUT_DIR': a corrected copy of the dataset is written to "
            "OUT_DIR, DIR is never changed. Exit code 2 when the dataset or the CSV cannot be used. "
            "'audit --mnist --out REPORT_DIR' audits the MNIST source instead of a dataset: every original, "
            "most doubtful first, for the list of originals no split draws (data/mnist_excluded.csv)."
        ),
    )
    parser.add_argument(
        "dir", type=Path, nargs="?", metavar="DIR", help="dataset folder (with images/<split>/)"
    )
    parser.add_argument(
        "--mnist", action="store_true", help="audit the MNIST source's 10,000 originals instead of DIR"
    )
    parser.add_argument("--out", type=Path, default=None, metavar="REPORT_DIR", help="report folder")
    parser.add_argument("--split", default="train", help="split to audit (default: train)")
    parser.add_argument("--model", choices=MODELS, default="cnn", help="crop classifier (default: cnn)")
    parser.add_argument("--folds", type=positive_int, default=5, metavar="K", help="folds (default: 5)")
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        metavar="E",
        help=f"epochs per fold (default: cnn {DEFAULT_EPOCHS['cnn']}, vit {DEFAULT_EPOCHS['vit']})",
    )
    parser.add_argument("--crop", type=int, default=32, metavar="S", help="crop side in pixels (default: 32)")
    parser.add_argument("--batch-size", type=positive_int, default=128, help="batch size (default: 128)")
    parser.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default: cnn 3e-3, vit 1e-3)"
    )
    parser.add_argument("--no-augment", action="store_true", help="train without random affine jitter")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--sheet", type=int, default=64, metavar="N", help="suspects in suspects.png (default: 64)"
    )
    parser.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--apply", type=Path, default=None, metavar="FILE", help="edited suspects CSV to apply"
    )
    parser.add_argument(
        "--to", type=Path, default=None, metavar="OUT_DIR", help="where --apply writes the copy"
    )
    parser.set_defaults(func=run, parser=parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from digit_detector.audit.classifier import AuditConfig, AuditError
    from digit_detector.audit.report import apply_actions, run_audit, write_report
    from digit_detector.devices import DeviceError, resolve_device

    parser: argparse.ArgumentParser = args.parser
    if (args.dir is None) == (not args.mnist):
        parser.error("give a dataset DIR or --mnist (not both)")
    if args.mnist and args.apply is not None:
        parser.error(
            "--apply corrects a dataset DIR; MNIST originals are excluded in data/mnist_excluded.csv"
        )
    if args.apply is not None:
        if args.to is None:
            parser.error("--apply needs --to OUT_DIR")
        try:
            stats = apply_actions(args.dir, args.split, args.apply, args.to)
        except (AuditError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(
            f"wrote {args.to}: {stats.images} images, {stats.boxes_in} boxes: {stats.kept} kept, "
            f"{stats.relabelled} relabelled, {stats.dropped} dropped"
        )
        return 0
    if args.out is None:
        parser.error("--out REPORT_DIR is required (unless --apply)")
    try:
        resolve_device(args.device)
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = AuditConfig(
        split=args.split,
        model=args.model,
        folds=args.folds,
        epochs=args.epochs,
        crop=args.crop,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        augment=not args.no_augment,
        device=args.device,
    )
    if args.mnist:
        return _run_mnist(args, config)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = run_audit(args.dir, config, progress=not args.quiet)
    except AuditError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
    for problem in result.problems:
        print(f"skipped {problem}", file=sys.stderr)
    write_report(result, args.out, args.sheet)
    summary = result.summary()
    print(
        f"out-of-fold accuracy {result.accuracy:.2%} on {summary['boxes']} boxes "
        f"({summary['likely_label_issues']} likely label issues, {result.seconds:.0f} s); "
        f"report: {args.out}/suspects.csv (+ suspects.png, confusion_matrix.png, summary.json)"
    )
    return 0


def _run_mnist(args: argparse.Namespace, config: AuditConfig) -> int:
    import torch

    from digit_detector.audit.mnist import audit_mnist, write_mnist_report
    from digit_detector.data.sources import SourceError

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        result = audit_mnist(config, progress=not args.quiet)
        write_mnist_report(result, args.out, args.sheet)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
    print(
        f"out-of-fold accuracy {result.accuracy:.2%} on {len(result.refs)} MNIST originals "
        f"({result.seconds:.0f} s); report: {args.out}/suspects.csv (+ suspects.png)"
    )
    return 0

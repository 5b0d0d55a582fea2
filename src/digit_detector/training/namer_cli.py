"""``python -m digit_detector namer train | attach``: the crop classifier that names detected boxes.

Two uses, one recipe (:func:`digit_detector.training.namer.train_namer`):

- the product's second stage: ``--data DIR`` (true boxes of the train split, plus the MNIST originals of
  the split rule's training part unless ``--no-mnist``), validated on the val split's boxes, scored on the
  test split's boxes by source;
- the limit of the data: ``--mnist-only`` trains on the 8,000 MNIST originals the split rule allows
  (train + val) and scores the 2,000 reserved originals (its validation figure is on digits it trained on).

``attach`` makes shippable weights of a detector and a namer: both files side by side in ``--out``, the
detector's metadata naming the namer, the thresholds chosen on the val split with the namer in the loop,
the test split's report recorded in the metadata (``metrics.test``) and written beside it (``eval/``), and
the chain of commands that made them (``training.chain``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from digit_detector.data.yolo_format import digit_sources, load_split, object_pen_widths
from digit_detector.detector import Detector, TorchBackend, TorchNamer
from digit_detector.evaluation.files import save_report
from digit_detector.evaluation.report import evaluate
from digit_detector.evaluation.thresholds import choose_thresholds
from digit_detector.naming import NamerConfig, load_namer
from digit_detector.training.namer import (
    CropSet,
    accuracy_by_kind,
    canvas_crop_set,
    mnist_crop_set,
    predict_crop_set,
    save_namer,
    train_namer,
)
from digit_detector.weights import WeightsError, load_weights, save_weights


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m digit_detector namer",
        description="Train the crop classifier that names each detected box (the detector's second stage).",
    )
    parser.add_argument("action", choices=["train", "attach"], help="what to do")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR", help="dataset root (YOLO layout)")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="PATH", help="train: output .safetensors; attach: a folder"
    )
    parser.add_argument(
        "--detector", type=Path, default=None, metavar="FILE", help="attach: detector weights"
    )
    parser.add_argument("--namer", type=Path, default=None, metavar="FILE", help="attach: namer weights")
    parser.add_argument("--version", default=None, help="attach: version of the combined weights")
    parser.add_argument("--mnist-only", action="store_true", help="train on MNIST originals only (the limit)")
    parser.add_argument("--no-mnist", action="store_true", help="leave the MNIST originals out of training")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N", help="use the first N canvases")
    parser.add_argument("--epochs", type=int, default=40, help="epochs at most (default 40)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-time budget (anneals within it)")
    parser.add_argument("--widths", type=int, nargs=3, default=[32, 64, 128], help="conv widths per block")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    return parser


def attach(args: argparse.Namespace, command: str) -> int:
    """Detector + namer -> shippable weights in ``args.out`` (see the module docstring)."""
    if args.detector is None or args.namer is None or args.data is None:
        print("error: attach needs --detector FILE --namer FILE --data DIR", file=sys.stderr)
        return 2
    try:
        model, metadata = load_weights(args.detector)
        namer, namer_record = load_namer(args.namer)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    namer_path = out / f"{args.detector.stem}.namer.safetensors"
    save_namer(
        namer,
        {k: v for k, v in namer_record.items() if k not in ("config", "class_names", "kind")},
        namer_path,
    )
    chain = list(metadata.training.get("chain", [])) or [
        {"stage": "detector", "version": metadata.version, "command": metadata.training.get("command")}
    ]
    chain.append({"stage": "namer", "command": namer_record.get("training", {}).get("command")})
    chain.append({"stage": "attach", "command": command})
    metadata.training["chain"] = chain
    metadata.namer = namer_path.name
    metadata.version = args.version or f"{metadata.version}+namer"
    metadata.metrics = {}
    detector = Detector(
        TorchBackend(model, torch.device("cpu")), metadata, namer=TorchNamer(namer, torch.device("cpu"))
    )
    val = load_split(args.data, "val").samples
    metadata.score_threshold, metadata.containment_threshold = choose_thresholds(detector, val, progress=True)
    print(
        f"chosen on {len(val)} validation images: objectness threshold {metadata.score_threshold:.2f}, "
        f"containment threshold {metadata.containment_threshold}"
    )
    test = load_split(args.data, "test").samples
    if test:
        report = evaluate(
            detector,
            test,
            sources=digit_sources(args.data, "test"),
            pens=object_pen_widths(args.data, "test"),
        )
        save_report(report, out / "eval")
        metadata.metrics["test"] = report.to_dict()
        print("\n".join(report.summary_lines()))
    weights = save_weights(model, metadata, out / args.detector.name)
    print(f"wrote {weights} and {namer_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.action == "attach":
        return attach(args, "python -m digit_detector namer " + shlex.join(list(argv or sys.argv[2:])))
    if not args.mnist_only and args.data is None:
        print("error: give --data DIR (or --mnist-only)", file=sys.stderr)
        return 2
    config = NamerConfig(widths=(args.widths[0], args.widths[1], args.widths[2]))
    tests: dict[str, CropSet] = {"mnist_reserved_originals": mnist_crop_set("test")}
    if args.mnist_only:
        train_sets = [mnist_crop_set("train"), mnist_crop_set("val")]
        val_set = train_sets[1]
    else:
        assert args.data is not None
        train_sets = [canvas_crop_set(args.data, "train", args.train_limit)]
        if not args.no_mnist:
            train_sets.append(mnist_crop_set("train"))
        val_set = canvas_crop_set(args.data, "val")
        tests["test_true_boxes"] = canvas_crop_set(args.data, "test")
    print(f"training on {sum(len(s) for s in train_sets):,} boxes", flush=True)
    model, history = train_namer(
        train_sets,
        val_set,
        config=config,
        epochs=args.epochs,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    metrics = {name: accuracy_by_kind(predict_crop_set(model, crops), crops) for name, crops in tests.items()}
    record = {
        "training": {
            "command": "python -m digit_detector namer " + shlex.join(list(argv or sys.argv[2:])),
            "data_root": None if args.data is None else str(args.data),
            "mnist_only": args.mnist_only,
            "train_boxes": sum(len(s) for s in train_sets),
            **history,
        },
        "metrics": metrics,
    }
    out = save_namer(model, record, args.out)
    print(json.dumps(metrics, indent=1))
    print(f"wrote {out}")
    return 0

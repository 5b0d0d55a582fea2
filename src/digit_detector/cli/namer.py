"""``namer train | combine | attach``: the crop classifier that names detected boxes.

Two uses, one recipe (:func:`digit_detector.training.namer.train_namer`):

- the product's second stage: ``--data DIR`` (true boxes of the train split, plus the MNIST originals of
  the split rule's training part unless ``--no-mnist``), validated on the val split's boxes, scored on the
  test split's boxes by source;
- the limit of the data: ``--mnist-only`` trains on the 8,000 MNIST originals the split rule allows
  (train + val) and scores the 2,000 reserved originals (its validation figure is on digits it trained on).

``train`` writes its weights after every epoch too, so a run stopped by a time limit keeps its last
epoch (its record then says ``"partial": true``). With ``--rejects`` it learns from the boxes a detector finds
in the training canvases: ``find-boxes`` finds them once and writes them to ``--out`` (an ``.npz``, the
canvases' names and labels but not their ink), and ``train --found-boxes FILE`` learns from that file
instead of finding them again, in the same canvases made again from the same recipe and seed (e.g. on a
lent GPU, where finding boxes is CPU-bound).

``combine`` makes one ensemble of several trained classifiers (their probabilities averaged; each cuts its
own crops), scored as ``train`` scores one when ``--data`` is given.

``attach`` makes shippable weights of a detector and a namer
(:func:`digit_detector.training.attach.attach_namer`): both files side by side in ``--out``, the detector's
metadata naming the namer, the thresholds chosen on the val split with the namer in the loop, the test
split's report recorded in the metadata (``metrics.test``) and written beside it (``eval/``), and the chain
of commands that made them (``training.chain``).

``keep-rule`` fits shippable weights' containment keep rule
(:func:`digit_detector.training.keep_rule.make_keep_rule_weights`): on canvases of a training split
(``--data``), which boxes the containment rule drops are whole objects (touching digits), its threshold
chosen on ``--val-data``'s val split (``--extra-data``: more training canvases); the weights are written to
``--out`` with the rule in their metadata.

``lone-digit`` chooses, on ``--val-data``'s val split, the digit probability at which a lone box named `other`
is named its runner-up digit (:func:`digit_detector.training.lone_digit.make_lone_digit_weights`); the
weights are written to ``--out`` with the value in their metadata.

``best-guess`` writes shippable weights to ``--out`` with ``--min-objectness`` as the objectness from which a
canvas that shows nothing shows its most likely box
(:func:`digit_detector.training.lone_digit.make_best_guess_weights`).

``lone-looks`` writes shippable weights to ``--out`` whose lone box (a canvas that shows one drawing) is named
from crops of it scaled by each of ``--scales`` and turned by each of ``--degrees``, the answers averaged
(:func:`digit_detector.training.lone_digit.make_lone_looks_weights`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_detector.cli import crop_margin, recorded_command
from digit_detector.devices import PRECISIONS

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers
    from digit_detector.detector import Detector

HELP = "train the crop classifier that names detected boxes (see `namer --help`)"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "namer",
        help=HELP,
        description="Train the crop classifier that names each detected box (the detector's second stage).",
    )
    parser.add_argument(
        "action",
        choices=[
            "train",
            "find-boxes",
            "combine",
            "attach",
            "keep-rule",
            "lone-digit",
            "best-guess",
            "lone-looks",
        ],
        help="what to do",
    )
    parser.add_argument("--data", type=Path, default=None, metavar="DIR", help="dataset root (YOLO layout)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="PATH",
        help="train: output .safetensors; find-boxes: output .npz; attach and the rule writers (keep-rule "
        "... lone-looks): a folder",
    )
    parser.add_argument(
        "--detector",
        type=Path,
        default=None,
        metavar="FILE",
        help="attach: detector weights; the rule writers (keep-rule ... lone-looks): shippable weights",
    )
    parser.add_argument(
        "--val-data",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep-rule, lone-digit: dataset whose val split chooses the rule's threshold",
    )
    parser.add_argument("--namer", type=Path, default=None, metavar="FILE", help="attach: namer weights")
    parser.add_argument(
        "--namers", type=Path, nargs="+", default=None, metavar="FILE", help="combine: the namers to average"
    )
    parser.add_argument(
        "--version",
        default=None,
        help="attach and the rule writers: version of the weights written",
    )
    parser.add_argument(
        "--min-objectness",
        type=float,
        default=None,
        help="best-guess: a canvas that shows nothing shows its most likely box from this objectness up",
    )
    parser.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=None,
        help="lone-looks: the lone box is also named from crops of it scaled by these factors (1: as found)",
    )
    parser.add_argument(
        "--degrees",
        type=float,
        nargs="+",
        default=None,
        help="lone-looks: ... and turned by these angles (0: upright); every pair, the answers averaged",
    )
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs=2,
        default=None,
        metavar=("OBJECTNESS", "CONTAINMENT"),
        help="attach: use these thresholds (chosen on validation by you) instead of the reading rule's",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="FILE",
        help="train: start from these namer weights (fine-tuning; their shape replaces --crop-size, and "
        "--widths narrower than theirs keeps each layer's strongest channels)",
    )
    parser.add_argument(
        "--distill",
        type=float,
        default=0.0,
        metavar="W",
        help="train --init: also learn, at weight W, the start's own answers on every crop (distillation), "
        "so the fine-tune keeps what the start did well, such as its rejection (default 0: off)",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        default=None,
        metavar="FILE",
        help="train --distill: learn the answers of these namer weights instead of the start's (a small "
        "namer taught again by the shipped one); they must cut the crops the trained namer cuts",
    )
    parser.add_argument(
        "--extra-data",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="train, keep-rule: more datasets whose train split is learnt too (train --rejects: their found "
        "boxes too)",
    )
    parser.add_argument("--mnist-only", action="store_true", help="train on MNIST originals only (the limit)")
    parser.add_argument("--no-mnist", action="store_true", help="leave the MNIST originals out of training")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N", help="use the first N canvases")
    parser.add_argument("--epochs", type=int, default=40, help="epochs at most (default 40)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-time budget (anneals within it)")
    parser.add_argument(
        "--widths",
        type=int,
        nargs=3,
        default=None,
        help="conv widths per block (default 32 64 128; with --init: narrower than the start's cuts it down, "
        "and --distill then learns the whole start's answers)",
    )
    parser.add_argument(
        "--crop-size", type=int, default=None, help="side of the square crop in pixels (default 28)"
    )
    parser.add_argument(
        "--box-channel",
        action="store_true",
        help="train: the classifier also sees where the box lies in its crop (with --init: added to it)",
    )
    parser.add_argument(
        "--context-margin",
        type=crop_margin,
        default=None,
        metavar="M",
        help="train: the classifier also sees the ink around its box, in a square crop reaching M box sides "
        "beyond it on each side (with --init: added to it)",
    )
    parser.add_argument(
        "--edge-channel",
        action="store_true",
        help="train: the classifier also sees which crop pixels lie beyond the canvas edge, so a digit the "
        "edge cuts is not taken for one that ends on paper (with --init: added to it)",
    )
    parser.add_argument(
        "--rejects",
        action="store_true",
        help="train: also learn 'not one whole object' from the boxes a detector finds in the training "
        "canvases (with --init: added to it)",
    )
    parser.add_argument(
        "--proposals",
        type=Path,
        nargs="+",
        default=[None],
        metavar="FILE",
        help="train --rejects, find-boxes: the detectors whose boxes are learnt from, each on the same "
        "canvases (default: the shipped weights)",
    )
    parser.add_argument(
        "--found-boxes",
        type=Path,
        default=None,
        metavar="FILE",
        help="train --rejects: learn the boxes `namer find-boxes` found (in the same canvases) instead of "
        "finding them with --proposals",
    )
    parser.add_argument(
        "--proposal-limit",
        type=int,
        default=20000,
        metavar="N",
        help="train --rejects, find-boxes: find boxes in the first N training canvases (default 20000)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--workers", type=int, default=None, help="processes that read the canvases (default: one per core)"
    )
    parser.add_argument(
        "--device", default=None, help="train: cpu, cuda, cuda:N or mps (default: the fastest one here)"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="train: the forward passes' dtype (auto: bfloat16 on a CPU with AMX, else float32)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    if args.action == "attach":
        return run_attach(args)
    if args.action == "combine":
        return run_combine(args)
    if args.action == "find-boxes":
        return run_find_boxes(args)
    if args.action == "keep-rule":
        return run_keep_rule(args)
    if args.action == "lone-digit":
        return run_lone_digit(args)
    if args.action == "best-guess":
        return run_best_guess(args)
    if args.action == "lone-looks":
        return run_lone_looks(args)
    return run_train(args)


def run_combine(args: argparse.Namespace) -> int:
    from digit_detector.training.namer import combine_namers, namer_test_sets, save_namer, score_namer
    from digit_detector.weights import WeightsError

    if not args.namers or len(args.namers) < 2:
        print("error: combine needs --namers FILE FILE [FILE ...]", file=sys.stderr)
        return 2
    try:
        ensemble, record = combine_namers(args.namers)
    except (OSError, WeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    record["training"]["command"] = recorded_command(args)
    tests = namer_test_sets(args.data, ("val", "test"), workers=args.workers)
    record["metrics"] = score_namer(ensemble, tests)
    out = save_namer(ensemble, record, args.out)
    print(json.dumps(record["metrics"], indent=1))
    print(f"wrote {out}")
    return 0


def run_attach(args: argparse.Namespace) -> int:
    from digit_detector.training.attach import attach_namer
    from digit_detector.weights import WeightsError

    if args.detector is None or args.namer is None or args.data is None:
        print("error: attach needs --detector FILE --namer FILE --data DIR", file=sys.stderr)
        return 2
    try:
        weights, namer_path = attach_namer(
            args.detector,
            args.namer,
            args.data,
            args.out,
            command=recorded_command(args),
            version=args.version,
            thresholds=None if args.thresholds is None else (args.thresholds[0], args.thresholds[1]),
        )
    except (WeightsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {weights} and {namer_path}")
    return 0


def write_rule(args: argparse.Namespace, needs: dict[str, str], write: Callable[[], object]) -> int:
    """Run one of the weights' rule writers (keep-rule, lone-digit, best-guess, lone-looks): a usage error
    naming the options it needs (``needs``: attribute -> how it is written) when one is missing, else
    ``write()``, whose unusable weights or data come back as one line."""
    from digit_detector.weights import WeightsError

    if any(getattr(args, name) is None for name in needs):
        print(f"error: {args.action} needs {' '.join(needs.values())}", file=sys.stderr)
        return 2
    try:
        write()
    except (OSError, WeightsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run_keep_rule(args: argparse.Namespace) -> int:
    from digit_detector.training.keep_rule import make_keep_rule_weights

    return write_rule(
        args,
        {
            "detector": "--detector FILE",
            "data": "--data DIR",
            "val_data": "--val-data DIR",
            "version": "--version VERSION",
        },
        lambda: make_keep_rule_weights(
            args.detector,
            [args.data, *args.extra_data],
            args.val_data,
            args.out,
            command=recorded_command(args),
            version=args.version,
            limit=args.train_limit,
        ),
    )


def run_lone_digit(args: argparse.Namespace) -> int:
    from digit_detector.training.lone_digit import make_lone_digit_weights

    return write_rule(
        args,
        {"detector": "--detector FILE", "val_data": "--val-data DIR", "version": "--version VERSION"},
        lambda: make_lone_digit_weights(
            args.detector, args.val_data, args.out, command=recorded_command(args), version=args.version
        ),
    )


def run_best_guess(args: argparse.Namespace) -> int:
    from digit_detector.training.lone_digit import make_best_guess_weights

    return write_rule(
        args,
        {
            "detector": "--detector FILE",
            "min_objectness": "--min-objectness VALUE",
            "version": "--version VERSION",
        },
        lambda: make_best_guess_weights(
            args.detector, args.out, args.min_objectness, command=recorded_command(args), version=args.version
        ),
    )


def run_lone_looks(args: argparse.Namespace) -> int:
    from digit_detector.training.lone_digit import make_lone_looks_weights

    return write_rule(
        args,
        {
            "detector": "--detector FILE",
            "scales": "--scales F ...",
            "degrees": "--degrees D ...",
            "version": "--version VERSION",
        },
        lambda: make_lone_looks_weights(
            args.detector,
            args.out,
            args.scales,
            args.degrees,
            command=recorded_command(args),
            version=args.version,
        ),
    )


def proposal_detectors(paths: list[Path | None], device: Any = None) -> list[Detector] | None:
    """The detectors whose found boxes a rejecting namer learns (``None``: the shipped weights), or None
    after saying which one cannot be loaded."""
    from digit_detector.detector import Detector
    from digit_detector.weights import WeightsError

    detectors = []
    for path in paths:
        try:
            detectors.append(Detector.from_weights(path, device=device))
        except (OSError, WeightsError) as error:
            print(f"error: cannot find boxes with {path}: {error}", file=sys.stderr)
            return None
    return detectors


def run_find_boxes(args: argparse.Namespace) -> int:
    from digit_detector.classes import CLASS_NAMES
    from digit_detector.devices import DeviceError, resolve_device
    from digit_detector.training.found_boxes import found_box_sets, save_found_boxes

    if args.data is None:
        print("error: give --data DIR (the canvases whose boxes are found)", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    detectors = proposal_detectors(args.proposals, device)
    if detectors is None:
        return 2
    sets = [found for found, _ in found_box_sets(detectors, args.data, args.extra_data, args.proposal_limit)]
    out = save_found_boxes(sets, args.out)
    for found in sets:
        rejects = int((found.labels == len(CLASS_NAMES)).sum())
        print(
            f"{found.split}: {len(found.boxes):,} boxes ({rejects:,} not one object) "
            f"in {len(found.canvases):,} canvases"
        )
    print(f"wrote {out}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    if not args.mnist_only and args.data is None:
        print("error: give --data DIR (or --mnist-only)", file=sys.stderr)
        return 2
    if args.distill < 0 or (args.distill > 0 and args.init is None and args.teacher is None):
        print("error: --distill W keeps a fine-tune near its start: give --init and W >= 0", file=sys.stderr)
        return 2
    if args.teacher is not None and args.distill <= 0:
        print("error: --teacher is learnt from by distillation: give --distill W > 0", file=sys.stderr)
        return 2
    import torch

    from digit_detector.devices import DeviceError, resolve_device, resolve_precision
    from digit_detector.naming import CropClassifier, NamerConfig
    from digit_detector.training.found_boxes import FoundBoxes, load_found_boxes
    from digit_detector.training.namer import (
        load_teacher,
        namer_crop_sets,
        namer_start,
        save_namer,
        score_namer,
        train_namer,
    )

    config = NamerConfig(
        box_channel=args.box_channel,
        rejects=args.rejects,
        context_margin=args.context_margin,
        edge_channel=args.edge_channel,
    )
    widths = None if args.widths is None else (args.widths[0], args.widths[1], args.widths[2])
    if widths is not None:
        config = replace(config, widths=widths)
    if args.crop_size is not None:
        config = replace(config, crop_size=args.crop_size)
    start: CropClassifier | None = None
    teacher: CropClassifier | None = None
    start_record: dict[str, Any] = {}
    try:
        if args.init is not None:
            begun = namer_start(args.init, config, widths)
            start, start_record, teacher = begun.classifier, begun.record, begun.teacher
            config = start.config
        if args.teacher is not None:
            teacher = load_teacher(args.teacher, config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    dtype = resolve_precision(args.precision, device)
    proposals: list[Detector] = []
    found: list[FoundBoxes] | None = None
    if args.found_boxes is not None and not config.rejects:
        print("error: --found-boxes are learnt by a namer that rejects: add --rejects", file=sys.stderr)
        return 2
    if config.rejects:
        if args.mnist_only:
            print(
                "error: --rejects learns from boxes found in canvases; give --data, not --mnist-only",
                file=sys.stderr,
            )
            return 2
        if args.found_boxes is not None:
            try:
                found = load_found_boxes(args.found_boxes)
            except ValueError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
        else:
            # boxes are found where the namer trains: on a GPU that is minutes less of its time
            loaded = proposal_detectors(args.proposals, device)
            if loaded is None:
                return 2
            proposals = loaded
    try:
        train_sets, val_set, tests = namer_crop_sets(
            args.data,
            mnist_only=args.mnist_only,
            use_mnist=not args.no_mnist,
            train_limit=args.train_limit,
            workers=args.workers,
            proposals=proposals,
            proposal_limit=args.proposal_limit,
            extra_data=args.extra_data,
            found=found,
        )
    except ValueError as error:  # found boxes of other canvases
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"training on {sum(len(s) for s in train_sets):,} boxes", flush=True)
    # which weights found the boxes: a path in the command may hold other weights later
    finders = found[0].detectors if found else [d.metadata.version for d in proposals]
    training = {
        "command": recorded_command(args),
        **({"init": start_record["training"]} if "training" in start_record else {}),
        "data_root": None if args.data is None else str(args.data),
        **({"extra_data": [str(root) for root in args.extra_data]} if args.extra_data else {}),
        "mnist_only": args.mnist_only,
        "device": str(device),
        "precision": str(dtype).removeprefix("torch."),
        "train_boxes": sum(len(s) for s in train_sets),
        **({"proposals": finders} if finders else {}),
    }

    def save_epoch(model: CropClassifier, history: dict[str, Any]) -> None:
        save_namer(model, {"training": {**training, **history, "partial": True}}, args.out)

    model, history = train_namer(
        train_sets,
        val_set,
        config=config,
        epochs=args.epochs,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=device,
        init=None if start is None else start.state_dict(),
        distill=args.distill,
        teacher=teacher,
        on_epoch=save_epoch,
        autocast=None if dtype == torch.float32 else dtype,
    )
    metrics = score_namer(model, tests)
    record = {"training": {**training, **history}, "metrics": metrics}
    out = save_namer(model, record, args.out)
    print(json.dumps(metrics, indent=1))
    print(f"wrote {out}")
    return 0

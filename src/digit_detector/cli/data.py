"""``data synth | show | import | export-coco | autolabel | anchors``: the data engine's commands.

The work is done by :mod:`digit_detector.data.synth`, :mod:`~digit_detector.data.show`,
:mod:`~digit_detector.data.importers.dataset`, :mod:`~digit_detector.data.coco`,
:mod:`~digit_detector.data.autolabel` and :mod:`~digit_detector.data.anchors`; this module parses the
arguments, calls them and prints. Each sub-command has ``add_<name>_parser(subparsers)`` and
``run_<name>(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from digit_detector.cli import degrees_up_to_180, positive_int, unit_interval

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers

HELP = "make, import, export and auto-label datasets (see `data --help`)"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "data",
        help=HELP,
        description="Make, import, export and auto-label datasets in the project's YOLO layout.",
    )
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    for add in (
        add_synth_parser,
        add_show_parser,
        add_import_parser,
        add_export_coco_parser,
        add_autolabel_parser,
        add_anchors_parser,
    ):
        add(commands)
    return parser


def run(args: argparse.Namespace) -> int:
    """The chosen sub-command's handler (each sub-parser sets its own ``func``)."""
    exit_code: int = args.func(args)
    return exit_code


# --------------------------------------------------------------------------- synth


def layout_weights(text: str) -> dict[str, float]:
    """argparse ``type`` for ``--layouts`` (:func:`digit_detector.data.compose.parse_layout_weights`)."""
    from digit_detector.data.compose import parse_layout_weights

    try:
        return parse_layout_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def digit_weights(text: str) -> dict[str, float]:
    """argparse ``type`` for ``--digit-weights`` (:func:`digit_detector.data.compose.parse_digit_weights`)."""
    from digit_detector.data.compose import parse_digit_weights

    try:
        return parse_digit_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def visible_share(text: str) -> float:
    """argparse ``type`` for ``--min-visible``: a share over 0 and at most 1."""
    value = unit_interval(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError("must be over 0 (an object with no ink on the canvas has no box)")
    return value


def add_synth_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.data import sources
    from digit_detector.data.augment_config import AugmentConfig
    from digit_detector.data.compose import LAYOUT_WEIGHTS
    from digit_detector.data.yolo_format import SPLITS

    parser = subparsers.add_parser(
        "synth",
        help="generate synthetic canvases with tight boxes",
        description=(
            "Generate N synthetic 400x400 canvases of drawn digits, numbers, 'other' objects and "
            "'censored' doodles on white, augmented geometrically with boxes recomputed from the "
            "pixels, into DIR in the YOLO layout (images/, labels/, meta/<split>.jsonl, data.yaml). "
            "The output is identical for the same seed, split, N and version, whatever --workers."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="dataset root directory")
    parser.add_argument("--n", type=int, required=True, metavar="N", help="number of canvases to write")
    parser.add_argument("--seed", type=int, required=True, metavar="S", help="random seed")
    parser.add_argument(
        "--split", choices=SPLITS, default="train", help="dataset split to write (default: train)"
    )
    parser.add_argument(
        "--workers", type=positive_int, default=1, metavar="W", help="worker processes (default: 1)"
    )
    parser.add_argument("--no-augment", action="store_true", help="skip the geometric augmentation")
    defaults = AugmentConfig()
    parser.add_argument(
        "--rotate-large",
        type=degrees_up_to_180,
        default=defaults.rotate_large,
        metavar="DEG",
        help=(
            f"the augmentation turns {defaults.p_large_rotation * 100:g} %% of the canvases it changes by "
            f"up to DEG degrees, the others by up to {defaults.rotate_small:g} "
            f"(default: {defaults.rotate_large:g})"
        ),
    )
    parser.add_argument(
        "--min-visible",
        type=visible_share,
        default=defaults.min_visible,
        metavar="SHARE",
        help=(
            "an object the augmentation pushes partly off the canvas keeps its label only when at least "
            f"SHARE of its ink stays on it, otherwise it is erased (default: {defaults.min_visible:g})"
        ),
    )
    parser.add_argument(
        "--layouts",
        type=layout_weights,
        default=None,
        metavar="KIND=W,...",
        help=(
            "reweight layout kinds, the rest keeping their defaults, e.g. lines=0.3,single_digit=0.15 "
            f"(defaults: {','.join(f'{k}={v:g}' for k, v in LAYOUT_WEIGHTS.items())})"
        ),
    )
    parser.add_argument(
        "--digit-weights",
        type=digit_weights,
        default=None,
        metavar="DIGIT=W,...",
        help="draw some digits more often than others, e.g. 1=2.5 (the digits not named weigh 1; default: "
        "every digit alike)",
    )
    parser.add_argument(
        "--repeat-share",
        type=unit_interval,
        default=0.0,
        metavar="P",
        help=(
            "share of a number's digits that repeat the digit before them (11, 2000, 911), so that rows "
            "of one digit, straight 1s among them, are common (default: 0, as the val and test splits)"
        ),
    )
    parser.add_argument(
        "--sketch-share",
        type=unit_interval,
        default=0.0,
        metavar="P",
        help=(
            "share of digits drawn from mouse-sketch templates (a straight-stroke 1, a Z-shaped 2, an open "
            "4, ...) instead of MNIST, fonts and Hershey (default: 0, as the val and test splits)"
        ),
    )
    parser.add_argument(
        "--more-fonts",
        action="store_true",
        help=(
            "train: draw digits and letters from 24 more handwriting fonts too (school hands, markers, "
            "scripts; fetched from npm on first use); val: only from 6 others no train split draws (fonts "
            "never trained on); the test split keeps its own fonts"
        ),
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing split in DIR instead of refusing"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"raw data cache (MNIST, fonts); default ${sources.CACHE_ENV} or ~/.cache/digit-detector",
    )
    parser.set_defaults(func=run_synth)
    return parser


def run_synth(args: argparse.Namespace) -> int:
    from digit_detector.data import sources
    from digit_detector.data.augment_config import AugmentConfig
    from digit_detector.data.compose import ComposeConfig
    from digit_detector.data.synth import SynthConfig, generate

    config = SynthConfig(
        compose=ComposeConfig(
            **({} if args.layouts is None else {"layout_weights": args.layouts}),
            digit_weights=args.digit_weights,
            repeat_share=args.repeat_share,
        ),
        augment=AugmentConfig(rotate_large=args.rotate_large, min_visible=args.min_visible),
        use_augment=not args.no_augment,
        sketch_share=args.sketch_share,
        more_fonts=args.more_fonts,
        cache_dir=str(args.cache_dir) if args.cache_dir else None,
    )
    start = time.perf_counter()
    try:
        path = generate(
            args.out, args.n, args.seed, args.split, config, workers=args.workers, overwrite=args.overwrite
        )
    except (FileExistsError, ValueError, sources.SourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    rate = args.n / elapsed if elapsed > 0 else float("inf")
    print(f"wrote {args.n} {args.split} canvases to {args.out} ({rate:.1f} canvases/s); {path}")
    return 0


# --------------------------------------------------------------------------- show


def add_show_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.data import show

    parser = subparsers.add_parser(
        "show",
        help="contact sheet of samples with boxes, class and size histograms",
        description=show.__doc__,
    )
    parser.add_argument("dir", type=Path, help="dataset in the project's layout")
    parser.add_argument("--out", type=Path, required=True, help="PNG file for the contact sheet")
    parser.add_argument("--split", default="train", help="split to show (default train)")
    parser.add_argument("--count", type=int, default=24, help="samples on the sheet (default 24)")
    parser.add_argument("--columns", type=int, default=6, help="tiles per row (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="which samples (random, reproducible)")
    parser.set_defaults(func=run_show)
    return parser


def run_show(args: argparse.Namespace) -> int:
    from digit_detector.data.show import choose_samples, contact_sheet, histograms
    from digit_detector.data.yolo_format import load_split

    contents = load_split(Path(args.dir), args.split)
    if not contents.samples:
        print(f"error: no labelled images in {Path(args.dir) / 'images' / args.split}")
        return 2
    chosen = choose_samples(contents.samples, args.count, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(chosen, args.columns).save(args.out)
    print("\n".join(histograms(contents.samples)))
    for problem in contents.problems:
        print(f"skipped {problem.path}: {problem.reason}")
    print(f"contact sheet of {len(chosen)} samples: {args.out}")
    return 0


# --------------------------------------------------------------------------- import


def add_import_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.data.coco import plain_doc
    from digit_detector.data.importers import dataset
    from digit_detector.data.importers.sources import FORMATS
    from digit_detector.data.limits import (
        MAX_ARCHIVE_BYTES,
        MAX_ARCHIVE_MEMBERS,
        MAX_FILE_BYTES,
        MAX_IMAGE_PIXELS,
        human_size,
    )
    from digit_detector.data.yolo_format import SPLITS

    parser = subparsers.add_parser(
        "import",
        help="import labelled drawings (Kaggle set, makesense.ai exports, YOLO, COCO) into a dataset",
        description=plain_doc(dataset.__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Exit code: 0 all imported, 1 some files skipped (listed with reasons), 2 nothing imported "
            "(the source as a whole unusable: unknown format, unreadable or over-limit zip or index file, "
            "--out overlapping the input; one sentence on stderr). Limits: one file (zip member) "
            f"{human_size(MAX_FILE_BYTES)}, one image {MAX_IMAGE_PIXELS // 10**6} megapixels, a zip "
            f"{human_size(MAX_ARCHIVE_BYTES)} unpacked and {MAX_ARCHIVE_MEMBERS} members."
        ),
    )
    parser.add_argument(
        "source", type=Path, metavar="SRC", help="folder, zip, CSV or JSON to import (read only)"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="dataset root to import into (created or added to)",
    )
    parser.add_argument("--format", default="auto", choices=FORMATS, help="source format (default: detect)")
    parser.add_argument(
        "--images",
        type=Path,
        metavar="FOLDER",
        help="the images, for makesense exports and COCO (default for COCO: the JSON's folder)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--split", choices=SPLITS, help="put every image into this split")
    target.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="send this fraction to val, chosen by a hash of the file name (stable)",
    )
    parser.set_defaults(func=run_import)
    return parser


def _one_line(text: str) -> str:
    """``text`` with control characters escaped, so a hostile file name cannot break the report's lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def run_import(args: argparse.Namespace) -> int:
    from digit_detector.data.importers.dataset import import_dataset
    from digit_detector.data.importers.sources import IGNORE_RULE, ImportFormatError

    try:
        report = import_dataset(
            args.source, args.out, args.format, args.images, args.split, args.val_fraction
        )
    except ImportFormatError as error:
        print(f"error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    per_split = ", ".join(f"{s}: {n}" for s, n in sorted(report.imported.items())) or "nothing"
    print(
        f"imported {report.total} images from {args.source} ({report.format}) into {report.out} ({per_split})"
    )
    if report.problems:
        print(f"skipped {len(report.problems)} file(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {_one_line(str(problem.path))}: {_one_line(problem.reason)}", file=sys.stderr)
    if report.ignored:
        shown = ", ".join(_one_line(str(p.path)) for p in report.ignored[:3])
        more = f" and {len(report.ignored) - 3} more" if len(report.ignored) > 3 else ""
        print(f"ignored {len(report.ignored)} {IGNORE_RULE} ({shown}{more})", file=sys.stderr)
    if report.total == 0:
        return 2
    return 1 if report.problems else 0


# --------------------------------------------------------------------------- export-coco


def add_export_coco_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.data.yolo_format import SPLITS

    parser = subparsers.add_parser(
        "export-coco",
        help="export a split of a dataset in our layout to COCO JSON",
        description=(
            "Write DIR/images/<split> and its labels as one COCO JSON file: images (file_name is the "
            "name inside images/<split>, recorded in info.images_dir), annotations with bbox "
            "[x, y, w, h] in pixels, area and iscrowd 0, and our 12 categories with ids 1..12 "
            "(category_id = class id + 1; names '0'..'9', 'censored', 'other'). Files that cannot "
            "be read are listed and left out. Exit code: 0 all exported, 1 some files skipped, "
            "2 nothing to export."
        ),
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="dataset root (with images/ and labels/)")
    parser.add_argument("--split", required=True, choices=SPLITS, help="which split to export")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.json", help="COCO JSON to write")
    parser.set_defaults(func=run_export_coco)
    return parser


def run_export_coco(args: argparse.Namespace) -> int:
    from digit_detector.data.coco import export_coco

    images_dir = Path(args.dir) / "images" / args.split
    if not images_dir.is_dir():
        print(f"error: {images_dir} does not exist", file=sys.stderr)
        return 2
    path, count, problems = export_coco(Path(args.dir), args.split, Path(args.out))
    print(f"wrote {count} images of split {args.split!r} to {path}")
    for problem in problems:
        print(f"  skipped {problem.path}: {problem.reason}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} file(s) skipped", file=sys.stderr)
    return 1 if problems else 0


# --------------------------------------------------------------------------- autolabel


def add_autolabel_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.data import autolabel
    from digit_detector.data.coco import plain_doc

    parser = subparsers.add_parser(
        "autolabel",
        help="box single drawings of one class automatically; list the rest for review",
        description=plain_doc(autolabel.__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit code: 0 every image labelled, 1 some images need review, 2 bad arguments.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder of drawings, all of one class")
    parser.add_argument(
        "--label", required=True, metavar="C", help="their class: id 0..11 or name ('4', 'censored', 'other')"
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=autolabel.DEFAULT_GAP,
        help="merge strokes closer than this x the larger stroke box's side (default: %(default)s)",
    )
    parser.add_argument(
        "--speck",
        type=float,
        default=autolabel.DEFAULT_SPECK,
        help="ignore blobs whose longer side is below this x the image side (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing label files")
    parser.set_defaults(func=run_autolabel)
    return parser


def run_autolabel(args: argparse.Namespace) -> int:
    from digit_detector.classes import CLASS_NAMES
    from digit_detector.data.autolabel import REVIEW_FILE, autolabel, parse_class

    try:
        class_id = parse_class(args.label)
        result = autolabel(args.dir, class_id, args.gap, args.speck, args.overwrite)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"labelled {len(result.labelled)} image(s) as {CLASS_NAMES[class_id]!r}; "
        f"kept {len(result.kept)} existing label(s); {len(result.review)} for review "
        f"(listed in {Path(args.dir) / REVIEW_FILE})"
    )
    for problem in result.review:
        print(f"  {problem.path}: {problem.reason}")
    return 1 if result.review else 0


# --------------------------------------------------------------------------- anchors


def add_anchors_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.data import anchors

    parser = subparsers.add_parser(
        "anchors",
        help="recompute the 9 anchors by k-means on a split's boxes",
        description=anchors.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", type=Path, help="dataset in the project's layout")
    parser.add_argument("--split", default="train", help="split to read (default train)")
    parser.add_argument(
        "--model", default="yolov3-tiny", help="model config to compare with (default yolov3-tiny)"
    )
    parser.add_argument("--seed", type=int, default=0, help="k-means initialisation seed")
    parser.set_defaults(func=run_anchors)
    return parser


def run_anchors(args: argparse.Namespace) -> int:
    from digit_detector.data.anchors import config_anchors, kmeans_anchors, mean_best_iou, relative_box_sizes

    wh = relative_box_sizes(Path(args.dir), args.split)
    if len(wh) < 9:
        print(f"error: {args.dir}/{args.split} has {len(wh)} boxes; k-means needs at least 9")
        return 2
    anchors = kmeans_anchors(wh, seed=args.seed)
    current = config_anchors(args.model)
    print(
        f"{len(wh)} boxes; mean best-anchor IoU: k-means {mean_best_iou(wh, anchors):.3f}, "
        f"{args.model} config {mean_best_iou(wh, current):.3f}"
    )
    print("anchors:")
    for scale in range(3):
        pairs = ", ".join(f"[{w:.3f}, {h:.3f}]" for w, h in anchors[scale * 3 : scale * 3 + 3])
        print(f"  - [{pairs}]")
    return 0

"""``predict PATH...``: detect the drawn objects in images and read the number they spell.

Needs only the app's requirements (requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from digit_detector.devices import PRECISIONS

if TYPE_CHECKING:
    from digit_detector.cli import Subparsers
    from digit_detector.detector import DetectionResult

HELP = "detect objects in images and read the number they spell"
SAVE_DIR = Path("<the --save folder>")  # --save-txt without a folder: the labels go beside the images


class NoImagesError(Exception):
    """A folder given to ``predict`` that holds no image file; the message is one sentence."""


def iter_image_paths(paths: Sequence[str]) -> Iterator[Path | NoImagesError]:
    """Files as given; directories expand to their image files (every suffix in
    :data:`digit_detector.io.IMAGE_SUFFIXES`, hidden files left out), sorted by name. A directory with no
    image file in it gives a ``NoImagesError`` in its place, for the caller to report."""
    from digit_detector.io import IMAGE_SUFFIXES, is_image_file

    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            yield path
            continue
        try:
            found = sorted(p for p in path.iterdir() if is_image_file(p) and not p.is_dir())
        except OSError as error:
            yield NoImagesError(f"{path}: cannot list the folder ({error.strerror or error})")
            continue
        if found:
            yield from found
        else:
            yield NoImagesError(f"{path}: no image in this folder (looked for {', '.join(IMAGE_SUFFIXES)})")


def format_table(path: Path, result: DetectionResult) -> str:
    lines = [f"{path}  number={result.number!r}  {len(result.detections)} detections  {result.ms:.1f} ms"]
    lines += [
        f"  {d.label:>8}  {d.score:5.3f}  [{d.box[0]:6.1f} {d.box[1]:6.1f} {d.box[2]:6.1f} {d.box[3]:6.1f}]"
        for d in result.detections
    ]
    return "\n".join(lines)


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    from digit_detector.cli import unit_interval
    from digit_detector.io import MAX_IMAGE_PIXELS
    from digit_detector.weights import DEFAULT_WEIGHTS

    parser = subparsers.add_parser(
        "predict",
        help=HELP,
        description=(
            "Detect the drawn objects (digits 0-9, 'other', 'censored') in images and read the number "
            "the digits spell (lines top to bottom, each left to right). Exit code 0 when every image was "
            "read; 1 if any image could not be read (missing, corrupt, over "
            f"{MAX_IMAGE_PIXELS:,} pixels), a folder held no image or an output could not be written (the "
            "other images are still done, each failure on its own line); 2 when nothing was done: the "
            "weights cannot be loaded, the device is not available, or the options are wrong or do not fit."
        ),
        epilog=(
            "With --json, one JSON object per image and line: "
            '{"image": str, "detections": [{"label": str, "class_id": int, "score": float, '
            '"box": [x1, y1, x2, y2]}], "number": str, "ms": float}; an unreadable image gives '
            '{"image": str, "error": str} and the run goes on. Boxes are in the image\'s pixels; ms is the '
            "preprocess + model + decode time for that image. "
            "Files, as ultralytics writes them: --save DIR writes DIR/<stem>.png, the image annotated as the "
            "app shows it (censored objects pixelated); --save-txt writes DIR/labels/<stem>.txt, one line "
            "'class xc yc w h score' per detection (box normalised to the image, 0..1; an empty file when "
            "nothing was found), into the --save folder or the folder given (--save-txt DIR alone writes "
            "labels only); --coco FILE writes the COCO results of all images, "
            '[{"image_id": int, "category_id": class id + 1, "bbox": [x, y, w, h], "score": float}], '
            "as pycocotools' COCO.loadRes reads them: image ids 1, 2, ... over the readable images in "
            "order, as 'data export-coco' numbers the images of a split, category ids as it writes them. "
            "An output of the same stem as an earlier one replaces it (with a warning); one that would "
            "replace its input image is not written (an error)."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or directories of images")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help=f"weights file (.safetensors, .pt, or .onnx with --backend onnx; default {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--arch", default=None, help="architecture of a plain .pt state_dict (e.g. yolov3); checked otherwise"
    )
    parser.add_argument(
        "--score",
        type=unit_interval,
        default=None,
        help="score threshold, 0 to 1 (default: the weights' metadata)",
    )
    parser.add_argument(
        "--iou",
        type=unit_interval,
        default=None,
        help="NMS IoU threshold, 0 to 1 (default: the weights' metadata)",
    )
    parser.add_argument(
        "--per-class",
        action="store_true",
        help="suppress duplicates per class (evaluation mode), not across classes",
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda, mps or cpu)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="the torch networks' precision (default: $DIGIT_DETECTOR_PRECISION, else auto: bfloat16 on "
        "a CPU with AMX, float32 elsewhere)",
    )
    parser.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="PyTorch, or onnxruntime on the CPU (runs <weights>.onnx, exported first if missing)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each image annotated, as the app shows it, to DIR/<stem>.png",
    )
    parser.add_argument(
        "--save-txt",
        nargs="?",
        type=Path,
        const=SAVE_DIR,
        default=None,
        metavar="DIR",
        help="write YOLO label files with scores to DIR/labels/<stem>.txt (DIR: the --save folder when "
        "not given)",
    )
    parser.add_argument(
        "--coco",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the COCO results JSON of all images to FILE (what pycocotools' COCO.loadRes reads)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from digit_detector.detector import Detector
    from digit_detector.devices import DeviceError
    from digit_detector.io import read_image
    from digit_detector.outputs import OutputError, PredictionOutputs
    from digit_detector.preprocess import ImageInputError
    from digit_detector.weights import WeightsError

    labels_root = args.save if args.save_txt == SAVE_DIR else args.save_txt
    if args.save_txt == SAVE_DIR and args.save is None:
        print("error: --save-txt needs a folder: --save DIR --save-txt, or --save-txt DIR", file=sys.stderr)
        return 2
    if labels_root is not None and labels_root.is_file():  # "--save-txt a.png b.png" took a.png as DIR
        print(
            f"error: --save-txt {labels_root} is a file, not a folder: write --save-txt=DIR, or put a bare "
            "--save-txt last",
            file=sys.stderr,
        )
        return 2
    outputs = PredictionOutputs(
        save_dir=args.save,
        labels_dir=None if labels_root is None else labels_root / "labels",
        coco_path=args.coco,
    )
    try:
        detector = Detector.from_weights(
            args.weights,
            arch=args.arch,
            device=args.device,
            backend=args.backend,
            precision=args.precision,
            score_threshold=args.score,
            iou_threshold=args.iou,
            class_agnostic=not args.per_class,
        )
    except (WeightsError, DeviceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failures = 0
    for path in iter_image_paths(args.paths):
        if isinstance(path, NoImagesError):
            failures += 1
            print(f"error: {path}", file=sys.stderr)
            continue
        try:
            result = detector(read_image(path))
            warnings = outputs.add(path, result)
        except (ImageInputError, OutputError, OSError) as error:
            failures += 1
            if args.json:
                print(json.dumps({"image": str(path), "error": str(error)}), flush=True)
            else:
                print(f"{path}  error: {error}", file=sys.stderr)
            continue
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(json.dumps(result.to_json(str(path))) if args.json else format_table(path, result), flush=True)
    try:
        outputs.close()
    except OSError as error:
        print(f"error: cannot write {args.coco} ({error})", file=sys.stderr)
        return 1
    return 1 if failures else 0

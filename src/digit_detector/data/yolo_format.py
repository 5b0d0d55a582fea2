"""The project's dataset layout on disk (the ultralytics YOLO convention).

::

    DIR/data.yaml                 names (12, in order), nc, split folders, config fingerprints
    DIR/images/<split>/<stem>.png
    DIR/labels/<split>/<stem>.txt one line per box: ``class xc yc w h`` (normalised to 0..1)
    DIR/meta/<split>.jsonl        optional: one JSON record per image (sources, generator, seed)

Every writer and reader of datasets in the project goes through this module.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import yaml
from numpy.typing import NDArray
from PIL import Image

from digit_detector.boxes import xyxy_to_yolo, yolo_to_xyxy
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES, is_digit
from digit_detector.io import IMAGE_SUFFIXES as IMAGE_SUFFIXES  # what a split holds: what io reads

SPLITS = ("train", "val", "test")
CLASS_ID_PATTERN = re.compile(r"[0-9]+")
"""A class id as written in a label file: ASCII digits only (``int()`` also takes ``"+1"``, ``"1_0"``,
``" 1"`` and ``"٧"``; those are refused)."""
DECIMAL_PATTERN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A coordinate as written in a label file: an ASCII decimal (``float()`` also takes ``"1_0"``,
``"inf"``, ``"nan"`` and other scripts' digits; those are refused)."""
_MAX_CLASS_DIGITS = 9


class LabelFileError(ValueError):
    """A malformed label file; the message names the file and line."""


@dataclass
class Sample:
    """One labelled image: boxes in pixels (pascal_voc / xyxy) and their class ids."""

    image_path: Path
    image_size: tuple[int, int]  # (width, height)
    class_ids: NDArray[np.int64]
    boxes_xyxy: NDArray[np.float64]


@dataclass
class Problem:
    """A file that could not be used, and why (reported, never silently skipped)."""

    path: Path
    reason: str


@dataclass
class SplitContents:
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see either the old or the complete new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_class_id(text: str) -> int:
    """A class id written as ASCII digits (the one place label text's class ids are read); ValueError
    "class '+1' is not a class id (ASCII digits 0-9 only)" otherwise. The range is the caller's to check."""
    if not CLASS_ID_PATTERN.fullmatch(text):
        raise ValueError(f"class {text[:40]!r} is not a class id (ASCII digits 0-9 only)")
    if len(text) > _MAX_CLASS_DIGITS:
        raise ValueError(f"class {text[:40]} is out of range")
    return int(text)


def parse_decimal(text: str) -> float:
    """A finite number written as an ASCII decimal (``"0.5"``, ``"-3"``, ``"1e-3"``); ValueError otherwise."""
    if not DECIMAL_PATTERN.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]!r} is not a finite number")
    return value


def format_label_lines(
    class_ids: NDArray[np.integer], boxes_xyxy: NDArray[np.floating], image_size: tuple[int, int]
) -> str:
    """Label-file text for boxes in pixels of an image of ``image_size`` (width, height)."""
    if len(class_ids) == 0:
        return ""
    yolo = xyxy_to_yolo(np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4), image_size)
    return "".join(
        f"{int(c)} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f}\n"
        for c, (xc, yc, w, h) in zip(class_ids, yolo, strict=True)
    )


def write_sample(
    root: Path,
    split: str,
    stem: str,
    image: NDArray[np.uint8],
    class_ids: NDArray[np.integer],
    boxes_xyxy: NDArray[np.floating],
) -> Path:
    """Write one image (PNG) and its label file; returns the image path."""
    height, width = image.shape[:2]
    image_path = Path(root) / "images" / split / f"{stem}.png"
    image_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(image_path, optimize=False, compress_level=1)
    label_path = label_path_for(image_path)
    atomic_write_bytes(label_path, format_label_lines(class_ids, boxes_xyxy, (width, height)).encode())
    return image_path


def append_meta(root: Path, split: str, records: Iterable[dict[str, Any]]) -> None:
    """Append per-image metadata records to ``meta/<split>.jsonl``."""
    path = Path(root) / "meta" / f"{split}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def write_data_yaml(root: Path, fingerprints: dict[str, str] | None = None) -> Path:
    """Create or update ``data.yaml``; ``fingerprints`` (split -> config hash) are merged in."""
    path = Path(root) / "data.yaml"
    existing: dict[str, Any] = {}
    if path.exists():
        existing = yaml.safe_load(path.read_text()) or {}
    merged_fingerprints = {**existing.get("fingerprints", {}), **(fingerprints or {})}
    content: dict[str, Any] = {
        "path": ".",
        **{split: f"images/{split}" for split in SPLITS},
        "nc": NUM_CLASSES,
        "names": list(CLASS_NAMES),
    }
    if merged_fingerprints:
        content["fingerprints"] = merged_fingerprints
    atomic_write_bytes(path, yaml.safe_dump(content, sort_keys=False).encode())
    return path


def label_path_for(image_path: Path) -> Path:
    """``.../images/<split>/x.png`` -> ``.../labels/<split>/x.txt``."""
    parts = list(image_path.parts)
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image_path.with_suffix(".txt")


def parse_label_text(
    text: str, image_size: tuple[int, int], source: str = "<labels>"
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Parse YOLO label text into (class ids, xyxy pixel boxes); raises LabelFileError naming the line."""
    class_ids: list[int] = []
    rows: list[list[float]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{source} line {line_no}"
        if len(fields) != 5:
            raise LabelFileError(f"{where}: expected 'class xc yc w h', got {line.strip()[:200]!r}")
        try:
            class_id = parse_class_id(fields[0])
        except ValueError as error:
            raise LabelFileError(f"{where}: {error}") from None
        try:
            values = [parse_decimal(v) for v in fields[1:]]
        except ValueError:
            raise LabelFileError(f"{where}: not numbers: {line.strip()[:200]!r}") from None
        if not 0 <= class_id < NUM_CLASSES:
            raise LabelFileError(f"{where}: class {class_id} is out of range 0..{NUM_CLASSES - 1}")
        xc, yc, w, h = values
        if not all(np.isfinite(values)) or w <= 0 or h <= 0:
            raise LabelFileError(f"{where}: box {values} has a non-positive or non-finite size")
        tol = 1e-3
        if xc - w / 2 < -tol or yc - h / 2 < -tol or xc + w / 2 > 1 + tol or yc + h / 2 > 1 + tol:
            raise LabelFileError(f"{where}: box {values} lies outside the image")
        class_ids.append(class_id)
        rows.append(values)
    yolo = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    boxes = np.clip(yolo_to_xyxy(yolo, image_size), 0, [image_size[0], image_size[1]] * 2)
    return np.asarray(class_ids, dtype=np.int64), np.asarray(boxes, dtype=np.float64)


def list_images(folder: Path) -> list[Path]:
    """Image files in a folder, sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def read_sample(image_path: Path) -> Sample:
    """Read one image's labels (a missing label file means an image with no objects)."""
    try:
        with Image.open(image_path) as image:
            image_size = image.size
            image.verify()
    except Exception as error:  # PIL raises many types for corrupt files
        raise LabelFileError(f"{image_path}: unreadable image ({error})") from None
    label_path = label_path_for(image_path)
    text = label_path.read_text() if label_path.exists() else ""
    class_ids, boxes = parse_label_text(text, image_size, str(label_path))
    return Sample(image_path, image_size, class_ids, boxes)


def load_split(root: Path, split: str) -> SplitContents:
    """All samples of a split; bad files are collected in ``problems`` with the reason (a split folder that is
    a link to nothing as well, the usual slip when a split is linked in from another dataset)."""
    contents = SplitContents()
    folder = Path(root) / "images" / split
    if folder.is_symlink() and not folder.exists():
        reason = f"{folder} is a link to {folder.readlink()}, which does not exist"
        contents.problems.append(Problem(folder, reason))
    for image_path in list_images(folder):
        try:
            contents.samples.append(read_sample(image_path))
        except LabelFileError as error:
            contents.problems.append(Problem(image_path, str(error)))
    return contents


def read_meta(root: Path, split: str) -> list[dict[str, Any]]:
    path = Path(root) / "meta" / f"{split}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _boxed(root: Path, records: Sequence[dict[str, Any]]) -> dict[Path, list[dict[str, Any]]]:
    return {
        (Path(root) / record["image"]).resolve(): [
            obj for obj in record.get("objects", []) if not obj.get("dropped", False)
        ]
        for record in records
    }


def _sources(boxed: dict[Path, list[dict[str, Any]]]) -> dict[Path, list[str | None]]:
    return {
        image: [str(obj["source"]["kind"]) if is_digit(int(obj["class_id"])) else None for obj in kept]
        for image, kept in boxed.items()
    }


def _pens(boxed: dict[Path, list[dict[str, Any]]]) -> dict[Path, list[float]]:
    return {image: [float(obj.get("pen_width", 0.0)) for obj in kept] for image, kept in boxed.items()}


def _layouts(root: Path, records: Sequence[dict[str, Any]]) -> dict[Path, str]:
    return {
        (Path(root) / record["image"]).resolve(): str(record["layout"])
        for record in records
        if "layout" in record
    }


def boxed_objects(root: Path, split: str) -> dict[Path, list[dict[str, Any]]]:
    """The metadata of each canvas's boxed objects (``meta/<split>.jsonl``, those the generator dropped left
    out), by resolved image path: one per line of its label file, in that order. Empty when the split has no
    metadata (imported data)."""
    return _boxed(root, read_meta(root, split))


def digit_sources(root: Path, split: str) -> dict[Path, list[str | None]]:
    """Per image (resolved path): where each labelled object came from, in label order.

    Read from ``meta/<split>.jsonl`` (written by ``data synth``): ``"mnist"``, ``"font"`` or ``"hershey"``
    for a digit, ``None`` for any other class. Empty when the split has no metadata (imported data).
    """
    return _sources(boxed_objects(root, split))


def canvas_layouts(root: Path, split: str) -> dict[Path, str]:
    """Per image (resolved path): the layout the generator composed it in (``single_digit``, ``number``,
    ``lines``, ``scattered``, ``mixed``, ...), from ``meta/<split>.jsonl``; empty when the split has no
    metadata (imported data)."""
    return _layouts(root, read_meta(root, split))


def object_pen_widths(root: Path, split: str) -> dict[Path, list[float]]:
    """Per image (resolved path): the pen width (canvas px) each labelled object was drawn with, in label
    order, from ``meta/<split>.jsonl``; empty when the split has no metadata (imported data)."""
    return _pens(boxed_objects(root, split))


class SplitBreakdowns(TypedDict):
    """What evaluation breaks its figures down by: :func:`digit_sources`, :func:`object_pen_widths` and
    :func:`canvas_layouts` of one split."""

    sources: dict[Path, list[str | None]]
    pens: dict[Path, list[float]]
    layouts: dict[Path, str]


def split_breakdowns(root: Path, split: str) -> SplitBreakdowns:
    """The split's sources, pens and layouts from one read of ``meta/<split>.jsonl`` (evaluation's keyword
    arguments: ``evaluate(detector, samples, **split_breakdowns(root, split))``)."""
    records = read_meta(root, split)
    boxed = _boxed(root, records)
    return {"sources": _sources(boxed), "pens": _pens(boxed), "layouts": _layouts(root, records)}

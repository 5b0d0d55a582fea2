"""Import labelled drawings from other tools into our dataset layout (see :mod:`.yolo_format`).

Sources (``--format``, or detected with ``auto``):

- ``kaggle``: the original author's set: folders ``0``..``11`` and ``multiple`` of JPEGs plus a JSON
  file mapping each image path (any prefix, e.g. ``"0/abc.jpg"`` or ``"data/0/abc.jpg"``) to a list
  of ``[x, y, w, h, class]`` boxes in pixels. SRC is the folder (the JSON inside it) or the JSON.
- ``makesense-yolo``: a makesense.ai YOLO zip (one ``.txt`` per image) + ``--images``. Class ids are
  taken as ours unless the export holds a names file (``classes.txt``/``obj.names``), then by name.
- ``makesense-voc``: a makesense.ai Pascal VOC zip (one ``.xml`` per image) + ``--images``.
- ``makesense-csv``: a makesense.ai CSV (``label_name,bbox_x,bbox_y,bbox_width,bbox_height,
  image_name,image_width,image_height``, header optional) + ``--images``.
- ``yolo``: a folder with ``images/`` + ``labels/`` side by side (flat or with split subfolders, as
  our own layout), or images with their ``.txt`` next to them (what ``data autolabel`` writes).
  A ``data.yaml`` / ``classes.txt`` with names maps ids by name.
- ``coco``: a COCO JSON (+ ``--images``, default: the JSON's folder), categories mapped by name.

Label names map to our classes by name (``"4"``, ``"censored"``, ``"other"``; an integer name 0..11
is that class id). Every file that cannot be used (corrupt or missing image, class out of range,
box outside the image, malformed line, unknown label name, image without labels) becomes a
:class:`~.yolo_format.Problem` with the reason and is skipped; the rest is imported. An image with
no label file is a problem, not a background image (write an empty label file for those).
Boxes up to 1 px beyond the border are clipped (rounding in other tools); further is a problem.

Split: ``--split S`` for all, or ``--val-fraction F``: an image goes to ``val`` when the hash of its
file name (sha256 of the base name) falls below F, so the assignment is stable across runs and
sources. Without either, a source split folder (``images/val/...``) is kept, else ``train``.
Output images are PNGs named after the source's relative path; ``meta/<split>.jsonl`` records the
original file for each one. The input is only ever read.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from PIL import Image, ImageOps
from tqdm import tqdm

from digit_detector.boxes import BoxFormat, InvalidBoxError, clip_xyxy, convert, validate
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.coco import CocoFormatError, class_id_for_name, plain_doc, read_coco
from digit_detector.data.yolo_format import (
    IMAGE_SUFFIXES,
    SPLITS,
    LabelFileError,
    Problem,
    append_meta,
    parse_label_text,
    write_data_yaml,
    write_sample,
)

FORMATS = ("auto", "kaggle", "makesense-yolo", "makesense-voc", "makesense-csv", "yolo", "coco")
NAMES_FILES = ("classes.txt", "obj.names", "classes.names")
IGNORED_TXT = {*NAMES_FILES, "review.txt", "readme.txt", "notes.txt"}
CSV_COLUMNS = (
    "label_name",
    "bbox_x",
    "bbox_y",
    "bbox_width",
    "bbox_height",
    "image_name",
    "image_width",
    "image_height",
)
BORDER_TOLERANCE_PX = 1.0


class ImportFormatError(ValueError):
    """The source as a whole cannot be imported (unknown format, unreadable index file)."""


@dataclass
class Entry:
    """A file of the source (in a folder or a zip): relative name, where it is, its bytes."""

    name: str
    where: Path
    read: Callable[[], bytes]


@dataclass
class Candidate:
    """One image to import with its labels as found in the source (checked on import)."""

    name: str
    image: Entry
    label_source: str
    class_values: list[Any] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    box_format: BoxFormat = "coco"
    label_text: str | None = None
    source_names: list[str] | None = None
    expected_size: tuple[int, int] | None = None
    split: str | None = None


@dataclass
class ImportReport:
    """What an import did: images written per split and the files skipped, with reasons."""

    out: Path
    format: str
    imported: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.imported.values())


# --------------------------------------------------------------------------- source files


def _file_entry(path: Path, root: Path) -> Entry:
    return Entry(path.relative_to(root).as_posix(), path, path.read_bytes)


def _zip_entries(path: Path) -> list[Entry]:
    """The files of a zip (directories and macOS resource forks left out); read from one open handle."""
    try:
        archive = zipfile.ZipFile(path)  # stays open for the entries' readers; closed when collected
    except (OSError, zipfile.BadZipFile) as error:
        raise ImportFormatError(f"{path}: not a readable zip ({error})") from None
    entries = []
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith("__MACOSX/") or Path(info.filename).name.startswith("."):
            continue

        def read(member: str = info.filename) -> bytes:
            return archive.read(member)

        entries.append(Entry(info.filename, path / info.filename, read))
    return entries


def _entries(source: Path) -> list[Entry]:
    """All files of a folder (recursively) or a zip, sorted by name."""
    if source.is_dir():
        files = (p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted((_file_entry(p, source) for p in files), key=lambda e: e.name)
    if zipfile.is_zipfile(source):
        return sorted(_zip_entries(source), key=lambda e: e.name)
    raise ImportFormatError(f"{source}: expected a folder or a zip")


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


class ImageIndex:
    """Images of a folder / zip, found by any tail of their relative path (tolerant of prefixes)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = [e for e in entries if _is_image(e.name)]
        self._by_tail: dict[str, list[Entry]] = defaultdict(list)
        self._by_stem: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.entries:
            parts = entry.name.split("/")
            for start in range(len(parts)):
                self._by_tail["/".join(parts[start:])].append(entry)
            self._by_stem[Path(entry.name).stem].append(entry)

    def find(self, key: str) -> tuple[Entry | None, str]:
        """The image a path-like key names (longest matching tail wins); else (None, why)."""
        parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
        for start in range(len(parts)):
            hits = self._by_tail.get("/".join(parts[start:]), [])
            if len(hits) == 1:
                return hits[0], ""
            if len(hits) > 1:
                return None, f"ambiguous: {len(hits)} images match {key!r}"
        return None, "missing image: not found"

    def by_stem(self, stem: str) -> tuple[Entry | None, str]:
        hits = self._by_stem.get(stem, [])
        if len(hits) == 1:
            return hits[0], ""
        if hits:
            return None, f"ambiguous: {len(hits)} images are named {stem}.*"
        return None, "missing image: no image with this name"


def _images_folder(images: Path | None, fmt: str) -> list[Entry]:
    if images is None:
        raise ImportFormatError(f"--images FOLDER is required for {fmt} (the export holds only labels)")
    if not images.is_dir():
        raise ImportFormatError(f"--images {images} is not a folder")
    return _entries(images)


# --------------------------------------------------------------------------- readers


Readout = tuple[list[Candidate], list[Problem]]


def _kaggle_json(folder: Path) -> Path:
    """The JSON of a Kaggle-style folder that maps image paths to box lists."""
    found = sorted(folder.glob("*.json")) + sorted(folder.glob("*/*.json"))
    for path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            return path
    raise ImportFormatError(f"{folder}: no JSON mapping image paths to [x, y, w, h, class] lists")


def read_kaggle(source: Path, images: Path | None = None) -> Readout:
    """The original author's set: class folders of JPEGs + a JSON of ``[x, y, w, h, class]`` lists."""
    json_path = source if source.is_file() else _kaggle_json(source)
    root = images or (source if source.is_dir() else source.parent)
    try:
        mapping = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImportFormatError(f"{json_path}: not readable JSON ({error})") from None
    if not isinstance(mapping, dict):
        raise ImportFormatError(f"{json_path}: expected an object mapping image paths to box lists")
    index = ImageIndex(_entries(root))
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    listed: set[str] = set()
    for key, boxes in mapping.items():
        entry, why = index.find(str(key))
        if entry is None:
            problems.append(Problem(root / str(key), f"{why} (listed in {json_path.name})"))
            continue
        listed.add(entry.name)
        if not isinstance(boxes, list) or not all(isinstance(b, list | tuple) and len(b) == 5 for b in boxes):
            problems.append(
                Problem(
                    entry.where,
                    f"malformed boxes in {json_path.name}: want [[x, y, w, h, class], ...], got {boxes!r}",
                )
            )
            continue
        try:
            coords = [[_number(v) for v in box[:4]] for box in boxes]
        except ValueError as error:
            problems.append(Problem(entry.where, f"malformed box in {json_path.name}: {error}"))
            continue
        candidates.append(
            Candidate(
                name=entry.name,
                image=entry,
                label_source=f"{json_path}[{key!r}]",
                class_values=[box[4] for box in boxes],
                boxes=coords,
                box_format="coco",
            )
        )
    for entry in index.entries:
        if entry.name not in listed:
            problems.append(Problem(entry.where, f"not listed in {json_path.name} (no labels)"))
    return candidates, problems


def _names_from(entries: Sequence[Entry]) -> list[str] | None:
    for entry in entries:
        if Path(entry.name).name.lower() in NAMES_FILES:
            return [line.strip() for line in entry.read().decode("utf-8").splitlines() if line.strip()]
    return None


def read_makesense_yolo(source: Path, images: Path | None = None) -> Readout:
    """A makesense.ai YOLO export (zip or unzipped folder of ``.txt``) + the images folder."""
    entries = _entries(source)
    image_entries = [e for e in entries if _is_image(e.name)]
    if not image_entries:
        image_entries = _images_folder(images, "makesense-yolo")
    elif images is not None:
        image_entries += _entries(images)
    index = ImageIndex(image_entries)
    names = _names_from(entries)
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    labelled: set[str] = set()
    for entry in entries:
        if Path(entry.name).suffix.lower() != ".txt" or Path(entry.name).name.lower() in IGNORED_TXT:
            continue
        image, why = index.by_stem(Path(entry.name).stem)
        if image is None:
            problems.append(Problem(entry.where, why))
            continue
        labelled.add(image.name)
        try:
            text = entry.read().decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(entry.where, "label file is not UTF-8 text"))
            continue
        candidates.append(
            Candidate(
                name=image.name,
                image=image,
                label_source=str(entry.where),
                label_text=text,
                source_names=names,
            )
        )
    for image in index.entries:
        if image.name not in labelled:
            problems.append(Problem(image.where, "no label file in the export (unlabelled?)"))
    return candidates, problems


def _xml_text(node: ET.Element, path: str) -> str:
    found = node.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise ValueError(f"missing <{path}>")
    return found.text.strip()


def read_makesense_voc(source: Path, images: Path | None = None) -> Readout:
    """A makesense.ai Pascal VOC export (zip or folder of ``.xml``) + the images folder.

    VOC coordinates are taken as pixel edges (0-based, as makesense.ai writes them).
    """
    entries = _entries(source)
    image_entries = [e for e in entries if _is_image(e.name)] or _images_folder(images, "makesense-voc")
    index = ImageIndex(image_entries)
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    labelled: set[str] = set()
    for entry in entries:
        if Path(entry.name).suffix.lower() != ".xml":
            continue
        try:
            root = ET.fromstring(entry.read())
            filename = root.findtext("filename") or Path(entry.name).stem
            size = (int(float(_xml_text(root, "size/width"))), int(float(_xml_text(root, "size/height"))))
            labels, boxes = [], []
            for obj in root.iter("object"):
                labels.append(_xml_text(obj, "name"))
                boxes.append(
                    [_number(_xml_text(obj, f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
                )
        except (ET.ParseError, ValueError) as error:
            problems.append(Problem(entry.where, f"malformed VOC XML: {error}"))
            continue
        image, why = index.find(filename.strip())
        if image is None:
            image, why = index.by_stem(Path(filename.strip()).stem)
        if image is None:
            problems.append(Problem(entry.where, f"{why} ({filename})"))
            continue
        labelled.add(image.name)
        candidates.append(
            Candidate(
                name=image.name,
                image=image,
                label_source=str(entry.where),
                class_values=[_LabelName(n) for n in labels],
                boxes=boxes,
                box_format="pascal_voc",
                expected_size=size if size[0] > 0 and size[1] > 0 else None,
            )
        )
    for image in index.entries:
        if image.name not in labelled:
            problems.append(Problem(image.where, "no XML for this image in the export (unlabelled?)"))
    return candidates, problems


def read_makesense_csv(source: Path, images: Path | None = None) -> Readout:
    """A makesense.ai CSV export (one row per box) + the images folder."""
    index = ImageIndex(_images_folder(images, "makesense-csv"))
    rows: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
    try:
        lines = source.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ImportFormatError(f"{source}: not a readable CSV ({error})") from None
    problems: list[Problem] = []
    for line_no, row in enumerate(csv.reader(lines), start=1):
        if not row or not "".join(row).strip():
            continue
        if line_no == 1 and row[0].strip().lower() == "label_name":
            continue
        if len(row) != len(CSV_COLUMNS):
            problems.append(
                Problem(
                    source, f"line {line_no}: expected {len(CSV_COLUMNS)} columns {CSV_COLUMNS}, got {row!r}"
                )
            )
            if len(row) > 5:
                rows[row[5].strip()].append((line_no, []))  # poison that image: it would lose a box
            continue
        rows[row[5].strip()].append((line_no, [v.strip() for v in row]))
    candidates: list[Candidate] = []
    labelled: set[str] = set()
    for image_name, image_rows in rows.items():
        image, why = index.find(image_name)
        if image is None:
            problems.append(Problem(source, f"{why}: {image_name!r}"))
            continue
        labelled.add(image.name)
        try:
            labels, boxes, sizes = [], [], set()
            for line_no, row in image_rows:
                if not row:
                    raise ValueError(f"line {line_no} is malformed")
                try:
                    boxes.append([_number(v) for v in row[1:5]])
                    sizes.add((int(_number(row[6])), int(_number(row[7]))))
                except ValueError as error:
                    raise ValueError(f"line {line_no}: {error}") from None
                labels.append(_LabelName(row[0]))
            if len(sizes) != 1:
                raise ValueError(f"rows disagree on the image size: {sorted(sizes)}")
        except ValueError as error:
            problems.append(Problem(image.where, f"{source.name}: {error}"))
            continue
        candidates.append(
            Candidate(
                name=image.name,
                image=image,
                label_source=str(source),
                class_values=labels,
                boxes=boxes,
                box_format="coco",
                expected_size=sizes.pop(),
            )
        )
    for image in index.entries:
        if image.name not in labelled:
            problems.append(Problem(image.where, f"not in {source.name} (unlabelled?)"))
    return candidates, problems


def _yaml_names(path: Path) -> list[str] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    if isinstance(names, list):
        return [str(n) for n in names]
    return None


def read_yolo(source: Path, images: Path | None = None) -> Readout:
    """A YOLO folder: ``images/`` + ``labels/`` (flat or split subfolders) or txt next to images."""
    del images  # the images are part of the folder
    if not source.is_dir():
        raise ImportFormatError(f"{source}: a YOLO source must be a folder")
    layered = (source / "images").is_dir()
    image_root = source / "images" if layered else source
    label_root = source / "labels" if layered else source
    names = _yaml_names(source / "data.yaml") if (source / "data.yaml").exists() else None
    if names is None:
        names = _names_from(
            [_file_entry(p, source) for p in (source / n for n in NAMES_FILES) if p.is_file()]
        )
    image_entries = [
        _file_entry(p, image_root) for p in image_root.rglob("*") if p.is_file() and _is_image(p.name)
    ]
    candidates: list[Candidate] = []
    problems: list[Problem] = []
    seen_labels: set[Path] = set()
    for entry in sorted(image_entries, key=lambda e: e.name):
        if Path(entry.name).name.startswith("."):
            continue
        label_path = (label_root / entry.name).with_suffix(".txt")
        if not label_path.is_file():
            problems.append(
                Problem(
                    entry.where, f"no label file {label_path} (write an empty one for a background image)"
                )
            )
            continue
        seen_labels.add(label_path)
        parts = entry.name.split("/")
        try:
            text = label_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(label_path, f"unreadable label file ({error})"))
            continue
        candidates.append(
            Candidate(
                name=entry.name,
                image=entry,
                label_source=str(label_path),
                label_text=text,
                source_names=names,
                split=parts[0] if layered and len(parts) > 1 and parts[0] in SPLITS else None,
            )
        )
    for label_path in sorted(label_root.rglob("*.txt")):
        if label_path not in seen_labels and label_path.name.lower() not in IGNORED_TXT:
            problems.append(Problem(label_path, "missing image: label file without an image"))
    return candidates, problems


def _coco_json(folder: Path) -> Path:
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and "images" in data and "annotations" in data:
            return path
    raise ImportFormatError(f"{folder}: no COCO JSON (with 'images' and 'annotations') in it")


def read_coco_source(source: Path, images: Path | None = None) -> Readout:
    """A COCO JSON (or a folder holding one) + its images folder, categories mapped by name."""
    json_path = source if source.is_file() else _coco_json(source)
    try:
        coco = read_coco(json_path)
    except CocoFormatError as error:
        raise ImportFormatError(str(error)) from None
    folders = (
        [images]
        if images is not None
        else [
            json_path.parent,
            json_path.parent / "images",
            Path(str(coco.info.get("images_dir", json_path.parent))),
        ]
    )
    category_to_class = {cat_id: class_id_for_name(name) for cat_id, name in coco.categories.items()}
    candidates: list[Candidate] = []
    problems = list(coco.problems)
    for image in coco.images:
        path = next(
            (
                folder / name
                for folder in folders
                for name in (image.file_name, Path(image.file_name).name)
                if (folder / name).is_file()
            ),
            None,
        )
        if path is None:
            problems.append(
                Problem(folders[0] / image.file_name, f"missing image (listed in {json_path.name})")
            )
            continue
        if image.errors:
            problems.append(Problem(path, f"{json_path.name}: " + "; ".join(image.errors)))
            continue
        unknown = [c for c in image.category_ids if category_to_class.get(c) is None]
        if unknown:
            names = [coco.categories.get(c, "<no such category>") for c in unknown]
            problems.append(
                Problem(path, f"unknown category {unknown[0]!r} ({names[0]!r}) in {json_path.name}")
            )
            continue
        entry = Entry(image.file_name, path, path.read_bytes)
        candidates.append(
            Candidate(
                name=image.file_name,
                image=entry,
                label_source=f"{json_path}#image_id={image.id}",
                class_values=[category_to_class[c] for c in image.category_ids],
                boxes=image.boxes,
                box_format="coco",
                expected_size=(image.width, image.height) if image.width and image.height else None,
            )
        )
    return candidates, problems


READERS: dict[str, Callable[[Path, Path | None], Readout]] = {
    "kaggle": read_kaggle,
    "makesense-yolo": read_makesense_yolo,
    "makesense-voc": read_makesense_voc,
    "makesense-csv": read_makesense_csv,
    "yolo": read_yolo,
    "coco": read_coco_source,
}


def detect_format(source: Path) -> str:
    """Guess the format of ``source``; raises ImportFormatError when it cannot tell."""
    source = Path(source)
    if not source.exists():
        raise ImportFormatError(f"{source} does not exist")
    if source.is_file():
        suffix = source.suffix.lower()
        if suffix == ".csv":
            return "makesense-csv"
        if suffix == ".json":
            try:
                data = json.loads(source.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise ImportFormatError(f"{source}: not readable JSON ({error})") from None
            if isinstance(data, dict) and "images" in data and "annotations" in data:
                return "coco"
            if isinstance(data, dict):
                return "kaggle"
        if zipfile.is_zipfile(source):
            suffixes = {Path(e.name).suffix.lower() for e in _zip_entries(source)}
            if ".xml" in suffixes:
                return "makesense-voc"
            if ".txt" in suffixes:
                return "makesense-yolo"
        raise ImportFormatError(f"cannot tell the format of {source}; pass --format")
    if (source / "images").is_dir() and (source / "labels").is_dir():
        return "yolo"
    try:
        _coco_json(source)
        return "coco"
    except ImportFormatError:
        pass
    try:
        _kaggle_json(source)
        return "kaggle"
    except ImportFormatError:
        pass
    suffixes = {p.suffix.lower() for p in source.iterdir() if p.is_file()}
    if ".xml" in suffixes:
        return "makesense-voc"
    if ".txt" in suffixes and suffixes & set(IMAGE_SUFFIXES):
        return "yolo"
    raise ImportFormatError(f"cannot tell the format of {source}; pass --format")


# --------------------------------------------------------------------------- checks and writing


@dataclass(frozen=True)
class _LabelName:
    """A class given by name (VOC, CSV): mapped by name only, never read as an id."""

    text: str


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    return number


def _class_id(value: Any) -> int:
    """Our class id for a label value (an id or a name); ValueError naming it otherwise."""
    if isinstance(value, _LabelName):
        class_id = class_id_for_name(value.text)
        if class_id is None:
            raise ValueError(f"unknown label name {value.text!r} (expected one of {list(CLASS_NAMES)})")
        return class_id
    if isinstance(value, str):
        by_name = class_id_for_name(value)
        if by_name is not None:
            return by_name
    number = _number(value)
    if number != int(number) or not 0 <= number < NUM_CLASSES:
        raise ValueError(f"class {value!r} is out of range 0..{NUM_CLASSES - 1}")
    return int(number)


def _remap_yolo_text(text: str, names: list[str], source: str) -> str:
    """YOLO text with class ids of a ``names`` list rewritten to our ids (by name)."""
    lines = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            try:
                class_index = int(fields[0])
            except ValueError:
                raise LabelFileError(
                    f"{source} line {line_no}: class {fields[0]!r} is not an integer"
                ) from None
            if not 0 <= class_index < len(names):
                raise LabelFileError(
                    f"{source} line {line_no}: class {class_index} is not in the names list {names}"
                )
            mapped = class_id_for_name(names[class_index])
            if mapped is None:
                raise LabelFileError(
                    f"{source} line {line_no}: label name {names[class_index]!r} is not one of ours"
                )
            fields[0] = str(mapped)
        lines.append(" ".join(fields))
    return "\n".join(lines)


def decode_image(data: bytes) -> NDArray[np.uint8]:
    """RGB uint8 pixels of an encoded image (EXIF rotation applied, transparency on white)."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            background.alpha_composite(rgba)
            image = background
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _labels(candidate: Candidate, size: tuple[int, int]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Checked class ids and xyxy pixel boxes; raises ValueError with the reason."""
    if candidate.label_text is not None:
        text = candidate.label_text
        if candidate.source_names is not None and list(candidate.source_names) != list(CLASS_NAMES):
            text = _remap_yolo_text(text, candidate.source_names, candidate.label_source)
        return parse_label_text(text, size, candidate.label_source)
    class_ids = np.asarray([_class_id(v) for v in candidate.class_values], dtype=np.int64)
    boxes = np.asarray(candidate.boxes, dtype=np.float64).reshape(-1, 4)
    validate(boxes, candidate.box_format, size, tolerance=BORDER_TOLERANCE_PX)
    xyxy: NDArray[np.float64] = clip_xyxy(convert(boxes, candidate.box_format, "pascal_voc", size), size)
    return class_ids, xyxy


def split_for(name: str, val_fraction: float) -> str:
    """``val`` when the sha256 of the file's base name falls below ``val_fraction``, else ``train``."""
    digest = hashlib.sha256(Path(name.replace("\\", "/")).name.encode("utf-8")).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def stem_for(name: str) -> str:
    """Output file stem for a source-relative name: ``0/abc.jpg`` -> ``0__abc``."""
    path = Path(name.replace("\\", "/"))
    joined = "__".join([*path.parent.parts, path.stem]) if path.parent != Path(".") else path.stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", joined).strip("._") or "image"


def _check_paths(source: Path, out: Path) -> None:
    src, dst = source.resolve(), out.resolve()
    if dst == src or (source.is_dir() and src in dst.parents):
        raise ImportFormatError(
            f"--out {out} must not be inside the source {source} (the input is never modified)"
        )


def import_dataset(
    source: Path,
    out: Path,
    fmt: str = "auto",
    images: Path | None = None,
    split: str | None = None,
    val_fraction: float | None = None,
    progress: bool | None = None,
) -> ImportReport:
    """Import ``source`` into the dataset at ``out``; bad files are reported in the result, not raised.

    Raises ImportFormatError only when the source as a whole is unusable. ``progress=None`` shows a
    tqdm bar when stderr is a terminal.
    """
    source, out = Path(source), Path(out)
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if split is not None and split not in SPLITS:
        raise ImportFormatError(f"unknown split {split!r}; expected one of {SPLITS}")
    if val_fraction is not None and not 0.0 <= val_fraction <= 1.0:
        raise ImportFormatError(f"--val-fraction must be within 0..1, got {val_fraction}")
    if not source.exists():
        raise ImportFormatError(f"{source} does not exist")
    _check_paths(source, out)
    resolved = detect_format(source) if fmt == "auto" else fmt
    candidates, problems = READERS[resolved](source, images)
    report = ImportReport(out=out, format=resolved, problems=problems)
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    used_stems: set[str] = set()
    try:
        for candidate in tqdm(
            candidates,
            desc=f"import {resolved}",
            unit="img",
            disable=None if progress is None else not progress,
        ):
            where = candidate.image.where
            try:
                pixels = decode_image(candidate.image.read())
            except Exception as error:  # PIL raises many types for corrupt files
                report.problems.append(
                    Problem(where, f"corrupt or unreadable image ({type(error).__name__}: {error})")
                )
                continue
            height, width = pixels.shape[:2]
            if candidate.expected_size is not None and candidate.expected_size != (width, height):
                expected_w, expected_h = candidate.expected_size
                report.problems.append(
                    Problem(
                        where, f"image is {width}x{height} px but the labels say {expected_w}x{expected_h}"
                    )
                )
                continue
            try:
                class_ids, boxes = _labels(candidate, (width, height))
            except (ValueError, InvalidBoxError, LabelFileError) as error:
                report.problems.append(Problem(where, str(error)))
                continue
            target = split or (split_for(candidate.name, val_fraction) if val_fraction is not None else None)
            target = target or candidate.split or "train"
            stem = stem_for(candidate.name)
            base, counter = stem, 2
            while stem in used_stems:
                stem, counter = f"{base}-{counter}", counter + 1
            existing = [
                out / "images" / s / f"{stem}.png"
                for s in SPLITS
                if (out / "images" / s / f"{stem}.png").exists()
            ]
            if existing:
                report.problems.append(Problem(where, f"already imported as {existing[0]} (skipped)"))
                continue
            used_stems.add(stem)
            path = write_sample(out, target, stem, pixels, class_ids, boxes)
            report.imported[target] = report.imported.get(target, 0) + 1
            records[target].append(
                {
                    "image": path.name,
                    "source": str(where),
                    "labels": candidate.label_source,
                    "format": resolved,
                    "objects": len(class_ids),
                }
            )
    finally:
        for split_name, split_records in records.items():
            append_meta(out, split_name, split_records)
        if records or out.exists():
            write_data_yaml(out)
    return report


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``import``."""
    parser = subparsers.add_parser(
        "import",
        help="import labelled drawings (Kaggle set, makesense.ai exports, YOLO, COCO) into a dataset",
        description=plain_doc(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit code: 0 all imported, 1 some files skipped (listed with reasons), 2 nothing importable.",
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


def run_import(args: argparse.Namespace) -> int:
    """Handler of ``import``."""
    try:
        report = import_dataset(
            args.source, args.out, args.format, args.images, args.split, args.val_fraction
        )
    except ImportFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    per_split = ", ".join(f"{s}: {n}" for s, n in sorted(report.imported.items())) or "nothing"
    print(
        f"imported {report.total} images from {args.source} ({report.format}) into {report.out} ({per_split})"
    )
    if report.problems:
        print(f"skipped {len(report.problems)} file(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem.path}: {problem.reason}", file=sys.stderr)
    if report.total == 0:
        return 2
    return 1 if report.problems else 0

"""Reading data sets to import: source files (folders, zips) and one reader per format."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from digit_detector.data.coco import CocoFormatError, class_id_for_name, parse_number, read_coco
from digit_detector.data.importers.sources import (
    CSV_COLUMNS,
    IGNORED_TXT,
    NAMES_FILES,
    Candidate,
    Entry,
    ImageIndex,
    ImportFormatError,
    file_entry,
    images_folder_entries,
    is_image_name,
    source_entries,
    zip_entries,
)
from digit_detector.data.yolo_format import (
    IMAGE_SUFFIXES,
    SPLITS,
    Problem,
)

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
    index = ImageIndex(source_entries(root))
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
            coords = [[parse_number(v) for v in box[:4]] for box in boxes]
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
    entries = source_entries(source)
    image_entries = [e for e in entries if is_image_name(e.name)]
    if not image_entries:
        image_entries = images_folder_entries(images, "makesense-yolo")
    elif images is not None:
        image_entries += source_entries(images)
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
    entries = source_entries(source)
    image_entries = [e for e in entries if is_image_name(e.name)] or images_folder_entries(
        images, "makesense-voc"
    )
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
                    [parse_number(_xml_text(obj, f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
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
                class_values=[LabelName(n) for n in labels],
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
    index = ImageIndex(images_folder_entries(images, "makesense-csv"))
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
                    boxes.append([parse_number(v) for v in row[1:5]])
                    sizes.add((int(parse_number(row[6])), int(parse_number(row[7]))))
                except ValueError as error:
                    raise ValueError(f"line {line_no}: {error}") from None
                labels.append(LabelName(row[0]))
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
        names = _names_from([file_entry(p, source) for p in (source / n for n in NAMES_FILES) if p.is_file()])
    image_entries = [
        file_entry(p, image_root) for p in image_root.rglob("*") if p.is_file() and is_image_name(p.name)
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
            suffixes = {Path(e.name).suffix.lower() for e in zip_entries(source)}
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


@dataclass(frozen=True)
class LabelName:
    """A class given by name (VOC, CSV): mapped by name only, never read as an id."""

    text: str

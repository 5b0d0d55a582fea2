"""makesense.ai exports: a YOLO zip, a Pascal VOC zip, or a CSV, each with its images folder."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from digit_detector.data.coco import parse_number
from digit_detector.data.importers.sources import (
    CSV_COLUMNS,
    IGNORED_TXT,
    Candidate,
    ImageIndex,
    ImportFormatError,
    LabelName,
    Readout,
    images_folder_entries,
    is_image_name,
    names_from,
    source_entries,
)
from digit_detector.data.limits import read_text
from digit_detector.data.yolo_format import (
    Problem,
)


def read_makesense_yolo(source: Path, images: Path | None = None) -> Readout:
    """A makesense.ai YOLO export (zip or unzipped folder of ``.txt``) + the images folder."""
    listing = source_entries(source)
    entries = listing.entries
    problems: list[Problem] = list(listing.problems)
    image_entries = [e for e in entries if is_image_name(e.name)]
    if not image_entries or images is not None:
        images_listing = images_folder_entries(images, "makesense-yolo")
        image_entries += images_listing.entries
        problems += images_listing.problems
    index = ImageIndex(image_entries)
    names = names_from(entries)
    candidates: list[Candidate] = []
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
        except ValueError as error:  # FileTooLargeError, UnreadableFileError
            problems.append(Problem(entry.where, str(error)))
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


def _xml_size(node: ET.Element, path: str) -> int:
    """An image size from VOC XML (``"200"`` or ``"200.0"``): a finite number, as int."""
    return int(parse_number(_xml_text(node, path)))


def read_makesense_voc(source: Path, images: Path | None = None) -> Readout:
    """A makesense.ai Pascal VOC export (zip or folder of ``.xml``) + the images folder.

    VOC coordinates are taken as pixel edges (0-based, as makesense.ai writes them).
    """
    listing = source_entries(source)
    entries = listing.entries
    problems: list[Problem] = list(listing.problems)
    image_entries = [e for e in entries if is_image_name(e.name)]
    if not image_entries:
        images_listing = images_folder_entries(images, "makesense-voc")
        image_entries, problems = images_listing.entries, problems + images_listing.problems
    index = ImageIndex(image_entries)
    candidates: list[Candidate] = []
    labelled: set[str] = set()
    for entry in entries:
        if Path(entry.name).suffix.lower() != ".xml":
            continue
        try:
            data = entry.read()
        except ValueError as error:  # FileTooLargeError, UnreadableFileError
            problems.append(Problem(entry.where, str(error)))
            continue
        try:
            root = ET.fromstring(data)
            filename = root.findtext("filename") or Path(entry.name).stem
            size = (_xml_size(root, "size/width"), _xml_size(root, "size/height"))
            labels, boxes = [], []
            for obj in root.iter("object"):
                labels.append(_xml_text(obj, "name"))
                boxes.append(
                    [parse_number(_xml_text(obj, f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
                )
        except (ET.ParseError, ValueError, LookupError) as error:  # LookupError: an unknown encoding
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


def _csv_rows(lines: list[str], source: Path, problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each CSV record; a record the csv module rejects is a problem."""
    reader = csv.reader(lines)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # a field over csv.field_size_limit(), a stray quote
            problems.append(Problem(source, f"line {reader.line_num}: not CSV ({error})"))
            continue
        yield reader.line_num, row


def read_makesense_csv(source: Path, images: Path | None = None) -> Readout:
    """A makesense.ai CSV export (one row per box) + the images folder."""
    images_listing = images_folder_entries(images, "makesense-csv")
    index = ImageIndex(images_listing.entries)
    rows: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
    try:
        lines = read_text(source, encoding="utf-8-sig").splitlines()
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, over the size cap
        raise ImportFormatError(f"{source}: not a readable CSV ({error})") from None
    problems: list[Problem] = list(images_listing.problems)
    for line_no, row in _csv_rows(lines, source, problems):
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

"""COCO JSON: export a split of our dataset layout, and read COCO files (for the importer).

Category ids: **our class id + 1** (1..12), the COCO convention where 0 is never a category
(pycocotools and torchmetrics treat ids as opaque labels, so 1-based costs nothing and keeps
files from other tools, which are nearly always 1-based, looking the same). Category names are
:data:`~digit_detector.classes.CLASS_NAMES`. Boxes are ``[x, y, w, h]`` in pixels, converted by
:mod:`digit_detector.boxes`; ``file_name`` is the image's name inside ``images/<split>`` and
``info.images_dir`` records that folder, so the importer finds the images without ``--images``.

Reading maps categories to our classes by name (``"4"``, ``"censored"``, ``"other"``, case and
surrounding spaces ignored); a name written in ASCII digits 0..11 (e.g. ``"10"``) is taken as our
class id, and nothing else is (``"+1"``, ``"1_0"``, ``"07"``, ``"٧"`` are unknown names). Image and
category ids must be JSON numbers or strings; a file over
:data:`~digit_detector.data.limits.MAX_FILE_BYTES` is refused unread.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digit_detector.boxes import xyxy_to_coco
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.limits import FileTooLargeError, read_text
from digit_detector.data.yolo_format import (
    CLASS_ID_PATTERN,
    Problem,
    atomic_write_bytes,
    load_split,
    parse_class_id,
    parse_decimal,
)

CATEGORY_ID_OFFSET = 1
"""COCO ``category_id`` = our class id + ``CATEGORY_ID_OFFSET``."""


class CocoFormatError(ValueError):
    """A file that is not usable COCO JSON (the message says what is missing)."""


@dataclass
class CocoImage:
    """One ``images`` entry with its annotations (boxes in COCO ``[x, y, w, h]`` pixels)."""

    id: Any
    file_name: str
    width: int | None
    height: int | None
    category_ids: list[Any] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class CocoFile:
    """A parsed COCO file: its images (with annotations) and ``category id -> name``."""

    path: Path
    images: list[CocoImage]
    categories: dict[Any, str]
    info: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


def plain_doc(doc: str | None) -> str:
    """A module docstring as ``--help`` text: reST roles and double backticks removed."""
    text = re.sub(r":\w+:`~?\.?([^`]+)`", r"\1", doc or "")
    return text.replace("``", "").replace("**", "")


def categories() -> list[dict[str, Any]]:
    """Our 12 classes as COCO categories (ids 1..12)."""
    return [
        {
            "id": class_id + CATEGORY_ID_OFFSET,
            "name": name,
            "supercategory": "digit" if name.isdigit() else "object",
        }
        for class_id, name in enumerate(CLASS_NAMES)
    ]


def class_id_for_name(name: Any) -> int | None:
    """Our class id for a category / label name, or None when it is not one of our classes."""
    text = str(name).strip().lower()
    lowered = [n.lower() for n in CLASS_NAMES]
    if text in lowered:
        return lowered.index(text)
    if not CLASS_ID_PATTERN.fullmatch(text):
        return None
    number = parse_class_id(text) if len(text) <= 2 else NUM_CLASSES
    return number if 0 <= number < NUM_CLASSES and str(number) == text else None


def split_to_coco(root: Path, split: str) -> tuple[dict[str, Any], list[Problem]]:
    """The COCO dict for ``root``'s ``split`` and the files that could not be read."""
    contents = load_split(Path(root), split)
    images_dir = (Path(root) / "images" / split).resolve()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, sample in enumerate(contents.samples, start=1):
        width, height = sample.image_size
        images.append(
            {"id": image_id, "file_name": sample.image_path.name, "width": int(width), "height": int(height)}
        )
        coco_boxes: NDArray[np.float64] = xyxy_to_coco(sample.boxes_xyxy.reshape(-1, 4))
        for class_id, box in zip(sample.class_ids, coco_boxes, strict=True):
            x, y, w, h = (round(float(v), 3) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(class_id) + CATEGORY_ID_OFFSET,
                    "bbox": [x, y, w, h],
                    "area": round(w * h, 3),
                    "iscrowd": 0,
                }
            )
    document = {
        "info": {
            "description": f"digit_detector dataset split {split!r}",
            "split": split,
            "images_dir": str(images_dir),
            "category_id_offset": CATEGORY_ID_OFFSET,
        },
        "images": images,
        "annotations": annotations,
        "categories": categories(),
    }
    return document, contents.problems


def export_coco(root: Path, split: str, out: Path) -> tuple[Path, int, list[Problem]]:
    """Write ``root``'s ``split`` as COCO JSON to ``out``; returns (path, images written, problems)."""
    document, problems = split_to_coco(root, split)
    atomic_write_bytes(Path(out), json.dumps(document, indent=1).encode())
    return Path(out), len(document["images"]), problems


def parse_number(value: Any) -> float:
    """A label file's number (JSON number or ASCII decimal text, finite) as float; ValueError
    "... is not a number" otherwise (booleans, ``NaN``, ``inf``, ``"1_0"``, ``"٣"`` included)."""
    if isinstance(value, str):
        return parse_decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{short_repr(value)} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{short_repr(value)} is not a number (too large)") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (hostile files can hold huge values)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int too long to print, deep nesting
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_id(value: Any) -> bool:
    """A JSON id we can key by: a number or a string (not a list, object, boolean or null)."""
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _size(value: Any) -> int | None:
    """A positive, finite image size from JSON, as int; None otherwise."""
    try:
        number = parse_number(value)
    except ValueError:
        return None
    return int(number) if number >= 1 else None


def read_coco(path: Path) -> CocoFile:
    """Parse a COCO JSON file; raises CocoFormatError when the file itself is unusable.

    Per-image trouble (an annotation with a malformed bbox, an unknown image id) is kept in
    ``CocoImage.errors`` or ``CocoFile.problems`` for the caller to report.
    """
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except FileTooLargeError as error:
        raise CocoFormatError(f"{path}: {error}") from None
    except (OSError, ValueError, RecursionError) as error:  # ValueError: bad UTF-8 or JSON, huge ints
        raise CocoFormatError(f"{path}: not readable JSON ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoFormatError(f"{path}: not COCO JSON (no 'images' list)")
    raw_annotations = data.get("annotations", [])
    raw_categories = data.get("categories", [])
    if not isinstance(raw_annotations, list) or not isinstance(raw_categories, list):
        raise CocoFormatError(f"{path}: 'annotations' and 'categories' must be lists")
    category_names: dict[Any, str] = {}
    for category in raw_categories:
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise CocoFormatError(f"{path}: category {short_repr(category)} needs 'id' and 'name'")
        if not _is_id(category["id"]):
            raise CocoFormatError(
                f"{path}: category id {short_repr(category['id'])} is not a number or string"
            )
        if not _is_id(category["name"]):
            raise CocoFormatError(f"{path}: category name {short_repr(category['name'])} is not a string")
        category_names[category["id"]] = str(category["name"])

    problems: list[Problem] = []
    images: list[CocoImage] = []
    by_id: dict[Any, CocoImage] = {}
    for index, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or "id" not in entry or not entry.get("file_name"):
            problems.append(Problem(path, f"images[{index}] needs 'id' and 'file_name': {short_repr(entry)}"))
            continue
        if not _is_id(entry["id"]) or not isinstance(entry["file_name"], str):
            problems.append(
                Problem(path, f"images[{index}]: 'id' must be a number or string, 'file_name' a string")
            )
            continue
        image = CocoImage(
            id=entry["id"],
            file_name=entry["file_name"],
            width=_size(entry.get("width")),
            height=_size(entry.get("height")),
        )
        if image.id in by_id:
            problems.append(Problem(path, f"images[{index}]: duplicate image id {image.id!r}"))
            continue
        by_id[image.id] = image
        images.append(image)

    for index, annotation in enumerate(raw_annotations):
        if not isinstance(annotation, dict):
            problems.append(Problem(path, f"annotations[{index}] is not an object"))
            continue
        image_id = annotation.get("image_id")
        owner = by_id.get(image_id) if _is_id(image_id) else None
        if owner is None:
            problems.append(
                Problem(path, f"annotations[{index}] refers to unknown image id {short_repr(image_id)}")
            )
            continue
        bbox = annotation.get("bbox")
        try:
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise ValueError(f"bbox {short_repr(bbox)} is not [x, y, w, h]")
            values = [parse_number(v) for v in bbox]
        except ValueError as error:
            owner.errors.append(f"annotations[{index}]: {error}")
            continue
        category_id = annotation.get("category_id")
        if not _is_id(category_id):
            owner.errors.append(
                f"annotations[{index}]: category_id {short_repr(category_id)} is not a number"
            )
            continue
        owner.category_ids.append(category_id)
        owner.boxes.append(values)
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return CocoFile(path, images, category_names, info or {}, problems)

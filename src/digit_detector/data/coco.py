"""COCO JSON: export a split of our dataset layout, and read COCO files (for the importer).

Category ids: **our class id + 1** (1..12), the COCO convention where 0 is never a category
(pycocotools and torchmetrics treat ids as opaque labels, so 1-based costs nothing and keeps
files from other tools, which are nearly always 1-based, looking the same). Category names are
:data:`~digit_detector.classes.CLASS_NAMES`. Boxes are ``[x, y, w, h]`` in pixels, converted by
:mod:`digit_detector.boxes`; ``file_name`` is the image's name inside ``images/<split>`` and
``info.images_dir`` records that folder, so the importer finds the images without ``--images``.

Reading maps categories to our classes by name (``"4"``, ``"censored"``, ``"other"``, case and
spaces ignored); a name that is an integer 0..11 (e.g. ``"10"``) is taken as our class id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digit_detector.boxes import xyxy_to_coco
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.yolo_format import Problem, atomic_write_bytes, load_split

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
    try:
        number = int(text)
    except ValueError:
        return None
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
    """A label file's number (JSON number or numeric text) as float; ValueError "... is not a number"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None


def read_coco(path: Path) -> CocoFile:
    """Parse a COCO JSON file; raises CocoFormatError when the file itself is unusable.

    Per-image trouble (an annotation with a malformed bbox, an unknown image id) is kept in
    ``CocoImage.errors`` or ``CocoFile.problems`` for the caller to report.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CocoFormatError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoFormatError(f"{path}: not COCO JSON (no 'images' list)")
    raw_annotations = data.get("annotations", [])
    raw_categories = data.get("categories", [])
    if not isinstance(raw_annotations, list) or not isinstance(raw_categories, list):
        raise CocoFormatError(f"{path}: 'annotations' and 'categories' must be lists")
    category_names: dict[Any, str] = {}
    for category in raw_categories:
        if not isinstance(category, dict) or "id" not in category or "name" not in category:
            raise CocoFormatError(f"{path}: category {category!r} needs 'id' and 'name'")
        category_names[category["id"]] = str(category["name"])

    problems: list[Problem] = []
    images: list[CocoImage] = []
    by_id: dict[Any, CocoImage] = {}
    for index, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or "id" not in entry or not entry.get("file_name"):
            problems.append(Problem(path, f"images[{index}] needs 'id' and 'file_name': {entry!r}"))
            continue
        width, height = entry.get("width"), entry.get("height")
        image = CocoImage(
            id=entry["id"],
            file_name=str(entry["file_name"]),
            width=int(width) if isinstance(width, int | float) and width > 0 else None,
            height=int(height) if isinstance(height, int | float) and height > 0 else None,
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
        owner = by_id.get(annotation.get("image_id"))
        if owner is None:
            problems.append(
                Problem(
                    path, f"annotations[{index}] refers to unknown image id {annotation.get('image_id')!r}"
                )
            )
            continue
        bbox = annotation.get("bbox")
        try:
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise ValueError(f"bbox {bbox!r} is not [x, y, w, h]")
            values = [parse_number(v) for v in bbox]
        except ValueError as error:
            owner.errors.append(f"annotations[{index}]: {error}")
            continue
        owner.category_ids.append(annotation.get("category_id"))
        owner.boxes.append(values)
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    return CocoFile(path, images, category_names, info or {}, problems)

"""A COCO JSON (or a folder holding one) and its images, categories mapped by name."""

from __future__ import annotations

import json
from pathlib import Path

from digit_detector.data.coco import CocoFormatError, class_id_for_name, read_coco
from digit_detector.data.importers.sources import (
    Candidate,
    Entry,
    ImportFormatError,
    Readout,
)
from digit_detector.data.yolo_format import (
    Problem,
)


def find_coco_json(folder: Path) -> Path:
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
    json_path = source if source.is_file() else find_coco_json(source)
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

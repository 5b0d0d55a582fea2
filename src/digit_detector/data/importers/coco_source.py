"""A COCO JSON (or a folder holding one) and its images, categories mapped by name.

Images are read only from inside the images folders: ``--images``, else the JSON's folder and its
``images/``, plus ``info.images_dir`` (written by ``data export-coco``) when that is a split folder of a
dataset in our layout (``DIR/images/<split>`` beside ``DIR/data.yaml``). A ``file_name`` that is absolute
or climbs out with ``..``, or a symbolic link leading out of the folder, is a problem, never read.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from digit_detector.data.coco import CocoFormatError, class_id_for_name, read_coco
from digit_detector.data.importers.kaggle import load_json
from digit_detector.data.importers.sources import (
    Candidate,
    ImportFormatError,
    Readout,
    file_entry,
    is_ignored_name,
    unsafe_member_name,
)
from digit_detector.data.yolo_format import (
    SPLITS,
    Problem,
)


def find_coco_json(folder: Path) -> Path:
    skipped = []
    for path in sorted(folder.glob("*.json")):
        if path.is_symlink() or is_ignored_name(path.name):
            continue
        try:
            data = load_json(path)
        except ImportFormatError as error:
            skipped.append(str(error))
            continue
        if isinstance(data, dict) and "images" in data and "annotations" in data:
            return path
    why = f" ({'; '.join(skipped)})" if skipped else ""
    raise ImportFormatError(f"{folder}: no COCO JSON (with 'images' and 'annotations') in it{why}")


def _our_split_folder(text: Any) -> Path | None:
    """``info.images_dir`` when it is ``DIR/images/<split>`` of a dataset in our layout, else None."""
    if not isinstance(text, str) or not text:
        return None
    folder = Path(text)
    if (
        folder.parent.name == "images"
        and folder.name in SPLITS
        and (folder.parents[1] / "data.yaml").is_file()
    ):
        return folder
    return None


def image_inside(folder: Path, file_name: str) -> tuple[Path | None, str]:
    """The file ``file_name`` names inside ``folder`` (links leading out refused); else (None, why)."""
    text = file_name.replace("\\", "/")
    if unsafe_member_name(text):
        return None, (
            "is absolute or climbs out with '..' and no image of its base name is in the images folder: "
            "only files inside the images folder are read"
        )
    path = folder / text
    try:
        if not path.is_file():
            return None, ""
        if not path.resolve().is_relative_to(folder.resolve()):
            return None, f"is a link to {path.resolve()}, outside the images folder {folder}: not read"
        if not stat.S_ISREG(path.stat().st_mode):
            return None, "is not a regular file: not read"
    except (OSError, RuntimeError, ValueError) as error:  # ValueError: a NUL in the name
        return None, f"cannot be read ({type(error).__name__}: {error})"
    return path, ""


def read_coco_source(source: Path, images: Path | None = None) -> Readout:
    """A COCO JSON (or a folder holding one) + its images folder, categories mapped by name."""
    json_path = source if source.is_file() else find_coco_json(source)
    try:
        coco = read_coco(json_path)
    except CocoFormatError as error:
        raise ImportFormatError(str(error)) from None
    if images is not None:
        folders = [images]
    else:
        folders = [json_path.parent, json_path.parent / "images"]
        exported = _our_split_folder(coco.info.get("images_dir"))
        if exported is not None:
            folders.append(exported)
    category_to_class = {cat_id: class_id_for_name(name) for cat_id, name in coco.categories.items()}
    candidates: list[Candidate] = []
    problems = list(coco.problems)
    for image in coco.images:
        base_name = Path(image.file_name.replace("\\", "/")).name
        path, refused = None, ""
        for folder in folders:
            for name in dict.fromkeys((image.file_name, base_name)):
                path, why = image_inside(folder, name)
                refused = refused or why
                if path is not None:
                    break
            if path is not None:
                break
        if path is None:
            reason = f"file_name {image.file_name[:200]!r} {refused}" if refused else "missing image"
            problems.append(Problem(folders[0] / base_name, f"{reason} (listed in {json_path.name})"))
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
        entry = file_entry(path, path.parent)
        entry.name = image.file_name
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

"""The original author's Kaggle set: folders ``0``..``11``, ``multiple`` and a JSON of boxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from digit_detector.data.coco import parse_number, short_repr
from digit_detector.data.importers.sources import (
    Candidate,
    ImageIndex,
    ImportFormatError,
    Readout,
    is_ignored_name,
    source_entries,
)
from digit_detector.data.limits import FileTooLargeError, read_text
from digit_detector.data.yolo_format import (
    Problem,
)


def load_json(path: Path) -> Any:
    """A JSON file of at most MAX_FILE_BYTES; ImportFormatError saying why it cannot be read."""
    try:
        return json.loads(read_text(path))
    except FileTooLargeError as error:
        raise ImportFormatError(f"{path}: {error}") from None
    except (OSError, ValueError, RecursionError) as error:  # ValueError: bad UTF-8 or JSON, huge ints
        raise ImportFormatError(f"{path}: not readable JSON ({type(error).__name__}: {error})") from None


def find_kaggle_json(folder: Path) -> Path:
    """The JSON of a Kaggle-style folder that maps image paths to box lists (links are not followed)."""
    found = sorted(folder.glob("*.json")) + sorted(folder.glob("*/*.json"))
    skipped = []
    for path in found:
        if path.is_symlink() or is_ignored_name(path.relative_to(folder).as_posix()):
            continue
        try:
            data = load_json(path)
        except ImportFormatError as error:
            skipped.append(str(error))
            continue
        if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            return path
    why = f" ({'; '.join(skipped)})" if skipped else ""
    raise ImportFormatError(f"{folder}: no JSON mapping image paths to [x, y, w, h, class] lists{why}")


def read_kaggle(source: Path, images: Path | None = None) -> Readout:
    """The original author's set: class folders of JPEGs + a JSON of ``[x, y, w, h, class]`` lists."""
    json_path = source if source.is_file() else find_kaggle_json(source)
    root = images or (source if source.is_dir() else source.parent)
    mapping = load_json(json_path)
    if not isinstance(mapping, dict):
        raise ImportFormatError(f"{json_path}: expected an object mapping image paths to box lists")
    listing = source_entries(root)
    index = ImageIndex(listing.entries)
    candidates: list[Candidate] = []
    problems: list[Problem] = list(listing.problems)
    listed: set[str] = set()
    for key, boxes in mapping.items():
        entry, why = index.find(str(key))
        if entry is None:
            problems.append(Problem(root / str(key)[:200], f"{why} (listed in {json_path.name})"))
            continue
        listed.add(entry.name)
        if not isinstance(boxes, list) or not all(isinstance(b, list | tuple) and len(b) == 5 for b in boxes):
            problems.append(
                Problem(
                    entry.where,
                    f"malformed boxes in {json_path.name}: want [[x, y, w, h, class], ...], "
                    f"got {short_repr(boxes)}",
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
                label_source=f"{json_path}[{key[:200]!r}]",
                class_values=[box[4] for box in boxes],
                boxes=coords,
                box_format="coco",
            )
        )
    for entry in index.entries:
        if entry.name not in listed:
            problems.append(Problem(entry.where, f"not listed in {json_path.name} (no labels)"))
    return candidates, problems

"""The original author's Kaggle set: folders ``0``..``11``, ``multiple`` and a JSON of boxes."""

from __future__ import annotations

import json
from pathlib import Path

from digit_detector.data.coco import parse_number
from digit_detector.data.importers.sources import (
    Candidate,
    ImageIndex,
    ImportFormatError,
    Readout,
    source_entries,
)
from digit_detector.data.yolo_format import (
    Problem,
)


def find_kaggle_json(folder: Path) -> Path:
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
    json_path = source if source.is_file() else find_kaggle_json(source)
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

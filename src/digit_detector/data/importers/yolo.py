"""A YOLO folder: ``images/`` + ``labels/`` (flat or split), or images with their ``.txt`` beside them."""

from __future__ import annotations

from pathlib import Path

import yaml

from digit_detector.data.importers.sources import (
    IGNORED_TXT,
    NAMES_FILES,
    Candidate,
    ImportFormatError,
    Readout,
    file_entry,
    is_image_name,
    names_from,
)
from digit_detector.data.yolo_format import (
    SPLITS,
    Problem,
)


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
        names = names_from([file_entry(p, source) for p in (source / n for n in NAMES_FILES) if p.is_file()])
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

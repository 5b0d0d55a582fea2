"""A YOLO folder: ``images/`` + ``labels/`` (flat or split), or images with their ``.txt`` beside them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from digit_detector.data.importers.sources import (
    IGNORED_TXT,
    NAMES_FILES,
    Candidate,
    Entry,
    ImportFormatError,
    Readout,
    folder_listing,
    is_image_name,
    names_from,
)
from digit_detector.data.yolo_format import (
    SPLITS,
    Problem,
)

_MAX_NAMES = 10_000


def _yaml_names(entry: Entry) -> list[str] | None:
    """The ``names`` of a ``data.yaml`` (a list, or a dict keyed by class id), or None when unusable."""
    try:
        data = yaml.safe_load(entry.read().decode("utf-8"))
    except (ValueError, yaml.YAMLError, RecursionError):  # ValueError: not UTF-8, too large, unreadable
        return None
    names: Any = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        if not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < _MAX_NAMES for k in names):
            return None
        names = [names.get(k, "") for k in range(max(names, default=-1) + 1)]
    if not isinstance(names, list) or len(names) > _MAX_NAMES:
        return None
    if not all(isinstance(n, str | int | float) and not isinstance(n, bool) for n in names):
        return None
    return [str(n) for n in names]


def read_yolo(source: Path, images: Path | None = None) -> Readout:
    """A YOLO folder: ``images/`` + ``labels/`` (flat or split subfolders) or txt next to images.

    Files are listed with :func:`~.sources.folder_listing`: links leading out of ``source`` and hidden
    files are never read.
    """
    del images  # the images are part of the folder
    if not source.is_dir():
        raise ImportFormatError(f"{source}: a YOLO source must be a folder")
    listing = folder_listing(source)
    problems: list[Problem] = list(listing.problems)
    files = {entry.name: entry for entry in listing.entries}
    layered = (source / "images").is_dir() and not (source / "images").is_symlink()
    image_prefix, label_prefix = ("images/", "labels/") if layered else ("", "")
    names = _yaml_names(files["data.yaml"]) if "data.yaml" in files else None
    if names is None:
        names = names_from([files[n] for n in NAMES_FILES if n in files])
    candidates: list[Candidate] = []
    seen_labels: set[str] = set()
    for entry in listing.entries:
        if not entry.name.startswith(image_prefix) or not is_image_name(entry.name):
            continue
        name = entry.name[len(image_prefix) :]
        label_name = label_prefix + str(PurePosixPath(name).with_suffix(".txt"))
        label_path = source / label_name
        label = files.get(label_name)
        if label is None:
            listed_elsewhere = any(p.path == label_path for p in problems)
            problems.append(
                Problem(
                    entry.where,
                    f"its label file {label_path} was not read (see its own line)"
                    if listed_elsewhere
                    else f"no label file {label_path} (write an empty one for a background image)",
                )
            )
            continue
        seen_labels.add(label_name)
        try:
            text = label.read().decode("utf-8")
        except ValueError as error:  # UnicodeDecodeError, FileTooLargeError, UnreadableFileError
            problems.append(Problem(label_path, f"unreadable label file ({error})"))
            continue
        parts = name.split("/")
        candidates.append(
            Candidate(
                name=name,
                image=entry,
                label_source=str(label_path),
                label_text=text,
                source_names=names,
                split=parts[0] if layered and len(parts) > 1 and parts[0] in SPLITS else None,
            )
        )
    for label in listing.entries:
        if (
            label.name.startswith(label_prefix)
            and label.name.lower().endswith(".txt")
            and label.name not in seen_labels
            and PurePosixPath(label.name).name.lower() not in IGNORED_TXT
        ):
            problems.append(Problem(label.where, "missing image: label file without an image"))
    return candidates, problems

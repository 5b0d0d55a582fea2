"""The importers' registry: format name -> reader (one module per format), and format detection."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from digit_detector.data.importers.coco_source import find_coco_json, read_coco_source
from digit_detector.data.importers.kaggle import find_kaggle_json, load_json, read_kaggle
from digit_detector.data.importers.makesense import (
    read_makesense_csv,
    read_makesense_voc,
    read_makesense_yolo,
)
from digit_detector.data.importers.sources import (
    ImportFormatError,
    Readout,
    zip_listing,
)
from digit_detector.data.importers.yolo import read_yolo
from digit_detector.data.yolo_format import (
    IMAGE_SUFFIXES,
)

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
            data = load_json(source)
            if isinstance(data, dict) and "images" in data and "annotations" in data:
                return "coco"
            if isinstance(data, dict):
                return "kaggle"
        if zipfile.is_zipfile(source):
            suffixes = {Path(e.name).suffix.lower() for e in zip_listing(source).entries}
            if ".xml" in suffixes:
                return "makesense-voc"
            if ".txt" in suffixes:
                return "makesense-yolo"
        raise ImportFormatError(f"cannot tell the format of {source}; pass --format")
    if (source / "images").is_dir() and (source / "labels").is_dir():
        return "yolo"
    try:
        find_coco_json(source)
        return "coco"
    except ImportFormatError:
        pass
    try:
        find_kaggle_json(source)
        return "kaggle"
    except ImportFormatError:
        pass
    suffixes = {p.suffix.lower() for p in source.iterdir() if p.is_file()}
    if ".xml" in suffixes:
        return "makesense-voc"
    if ".txt" in suffixes and suffixes & set(IMAGE_SUFFIXES):
        return "yolo"
    raise ImportFormatError(f"cannot tell the format of {source}; pass --format")

"""What an import reads: the source's files (folder or zip), its images, the records readers return."""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digit_detector.boxes import BoxFormat
from digit_detector.data.yolo_format import (
    IMAGE_SUFFIXES,
    Problem,
)

FORMATS = ("auto", "kaggle", "makesense-yolo", "makesense-voc", "makesense-csv", "yolo", "coco")
NAMES_FILES = ("classes.txt", "obj.names", "classes.names")
IGNORED_TXT = {*NAMES_FILES, "review.txt", "readme.txt", "notes.txt"}
CSV_COLUMNS = (
    "label_name",
    "bbox_x",
    "bbox_y",
    "bbox_width",
    "bbox_height",
    "image_name",
    "image_width",
    "image_height",
)
BORDER_TOLERANCE_PX = 1.0


class ImportFormatError(ValueError):
    """The source as a whole cannot be imported (unknown format, unreadable index file)."""


@dataclass
class Entry:
    """A file of the source (in a folder or a zip): relative name, where it is, its bytes."""

    name: str
    where: Path
    read: Callable[[], bytes]


@dataclass
class Candidate:
    """One image to import with its labels as found in the source (checked on import)."""

    name: str
    image: Entry
    label_source: str
    class_values: list[Any] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    box_format: BoxFormat = "coco"
    label_text: str | None = None
    source_names: list[str] | None = None
    expected_size: tuple[int, int] | None = None
    split: str | None = None


@dataclass
class ImportReport:
    """What an import did: images written per split and the files skipped, with reasons."""

    out: Path
    format: str
    imported: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.imported.values())


# --------------------------------------------------------------------------- source files


def file_entry(path: Path, root: Path) -> Entry:
    return Entry(path.relative_to(root).as_posix(), path, path.read_bytes)


def zip_entries(path: Path) -> list[Entry]:
    """The files of a zip (directories and macOS resource forks left out); read from one open handle."""
    try:
        archive = zipfile.ZipFile(path)  # stays open for the entries' readers; closed when collected
    except (OSError, zipfile.BadZipFile) as error:
        raise ImportFormatError(f"{path}: not a readable zip ({error})") from None
    entries = []
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith("__MACOSX/") or Path(info.filename).name.startswith("."):
            continue

        def read(member: str = info.filename) -> bytes:
            return archive.read(member)

        entries.append(Entry(info.filename, path / info.filename, read))
    return entries


def source_entries(source: Path) -> list[Entry]:
    """All files of a folder (recursively) or a zip, sorted by name."""
    if source.is_dir():
        files = (p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted((file_entry(p, source) for p in files), key=lambda e: e.name)
    if zipfile.is_zipfile(source):
        return sorted(zip_entries(source), key=lambda e: e.name)
    raise ImportFormatError(f"{source}: expected a folder or a zip")


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


class ImageIndex:
    """Images of a folder / zip, found by any tail of their relative path (tolerant of prefixes)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = [e for e in entries if is_image_name(e.name)]
        self._by_tail: dict[str, list[Entry]] = defaultdict(list)
        self._by_stem: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.entries:
            parts = entry.name.split("/")
            for start in range(len(parts)):
                self._by_tail["/".join(parts[start:])].append(entry)
            self._by_stem[Path(entry.name).stem].append(entry)

    def find(self, key: str) -> tuple[Entry | None, str]:
        """The image a path-like key names (longest matching tail wins); else (None, why)."""
        parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
        for start in range(len(parts)):
            hits = self._by_tail.get("/".join(parts[start:]), [])
            if len(hits) == 1:
                return hits[0], ""
            if len(hits) > 1:
                return None, f"ambiguous: {len(hits)} images match {key!r}"
        return None, "missing image: not found"

    def by_stem(self, stem: str) -> tuple[Entry | None, str]:
        hits = self._by_stem.get(stem, [])
        if len(hits) == 1:
            return hits[0], ""
        if hits:
            return None, f"ambiguous: {len(hits)} images are named {stem}.*"
        return None, "missing image: no image with this name"


def images_folder_entries(images: Path | None, fmt: str) -> list[Entry]:
    if images is None:
        raise ImportFormatError(f"--images FOLDER is required for {fmt} (the export holds only labels)")
    if not images.is_dir():
        raise ImportFormatError(f"--images {images} is not a folder")
    return source_entries(images)


#: What a reader returns: the images it found with their labels, and every file it could not use.
Readout = tuple[list[Candidate], list[Problem]]


@dataclass(frozen=True)
class LabelName:
    """A class given by name (VOC, CSV): mapped by name only, never read as an id."""

    text: str


def names_from(entries: Sequence[Entry]) -> list[str] | None:
    """Class names from the first names file (``classes.txt``, ``obj.names``) among ``entries``."""
    for entry in entries:
        if Path(entry.name).name.lower() in NAMES_FILES:
            return [line.strip() for line in entry.read().decode("utf-8").splitlines() if line.strip()]
    return None

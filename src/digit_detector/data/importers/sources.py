"""What an import reads: the source's files (folder or zip), its images, the records readers return.

Listing a source never follows it out of itself and never reads more than the caps of
:mod:`digit_detector.data.limits`; every file it leaves out is reported:

- a problem (one report line, the file skipped): a symbolic link to a file outside the source, a link to
  a folder (not followed), a broken link, something that is not a regular file (a FIFO, a device), a
  zip member with an absolute or ``..`` name, a label or image file over
  :data:`~digit_detector.data.limits.MAX_FILE_BYTES`;
- ignored by rule (:data:`IGNORE_RULE`, counted on one line, not a problem): hidden and system files,
  i.e. any name (or folder in its path) starting with ``.`` (``.DS_Store``, ``._a.png``, ``.git/``),
  ``__MACOSX/`` (macOS zip resource forks), ``Thumbs.db`` and ``desktop.ini``.

A zip with more than :data:`~digit_detector.data.limits.MAX_ARCHIVE_MEMBERS` members or more than
:data:`~digit_detector.data.limits.MAX_ARCHIVE_BYTES` uncompressed is refused as a whole.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digit_detector.boxes import BoxFormat
from digit_detector.data.limits import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_MEMBERS,
    MAX_FILE_BYTES,
    FileTooLargeError,
    human_size,
    read_capped,
    read_file,
    too_large,
)
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
SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
IGNORE_RULE = "hidden or system files: names starting with '.', __MACOSX/, Thumbs.db, desktop.ini"
"""What is left out of every source without a problem line (the report counts them on one line)."""
DATA_SUFFIXES = {*IMAGE_SUFFIXES, ".txt", ".xml", ".json", ".csv", ".yaml", ".yml", ".names"}
"""The files an importer may read; only these are checked against the size cap when listed."""


class ImportFormatError(ValueError):
    """The source as a whole cannot be imported (unknown format, unreadable index file)."""


class UnreadableFileError(ValueError):
    """A file of the source that cannot be read (encrypted or corrupt zip member, I/O error)."""


@dataclass
class Entry:
    """A file of the source (in a folder or a zip): relative name, where it is, its bytes.

    ``read`` returns at most :data:`~digit_detector.data.limits.MAX_FILE_BYTES`; it raises a ValueError
    (FileTooLargeError, UnreadableFileError) naming the trouble otherwise.
    """

    name: str
    where: Path
    read: Callable[[], bytes]


@dataclass
class IgnoredFile(Problem):
    """A file left out by :data:`IGNORE_RULE`: counted in the report, not a problem."""


@dataclass
class Listing:
    """The files of a source an importer may read, and the ones left out (problems and ignored)."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


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
    ignored: list[Problem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.imported.values())


# --------------------------------------------------------------------------- source files


def is_ignored_name(name: str) -> bool:
    """True when a relative name falls under :data:`IGNORE_RULE` (any part hidden, ``__MACOSX``, ...)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or (
        bool(parts) and parts[-1].lower() in SYSTEM_FILES
    )


def _read_file(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return read_file(path)
        except OSError as error:
            raise UnreadableFileError(f"unreadable file ({type(error).__name__}: {error})") from None

    return read


def file_entry(path: Path, root: Path) -> Entry:
    """An entry for a file of a folder source (read through the size cap)."""
    return Entry(path.relative_to(root).as_posix(), path, _read_file(path))


def _check_file(path: Path, base: Path, name: str) -> str | None:
    """Why the file ``path`` (``name`` under the source, resolved ``base``) may not be read, or None."""
    try:
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(base):
                return f"a symbolic link to {target}, outside the source: not followed"
        status = path.stat()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python < 3.13)
        return f"unreadable or broken link ({type(error).__name__}: {error})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file (a pipe, socket or device): not read"
    if Path(name).suffix.lower() in DATA_SUFFIXES and status.st_size > MAX_FILE_BYTES:
        return too_large(status.st_size)
    return None


def folder_listing(root: Path) -> Listing:
    """Every file under the folder ``root`` (recursively, sorted), reading nothing yet.

    Links to files inside ``root`` are read; links leading out of it, links to folders, broken links and
    non-regular files are problems; hidden and system files are ignored (:data:`IGNORE_RULE`).
    """
    listing = Listing()
    base = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if is_ignored_name(relative):
                listing.problems.append(IgnoredFile(path, "hidden or system folder: ignored"))
                dirs.remove(name)
            elif path.is_symlink():
                listing.problems.append(
                    Problem(path, f"a symbolic link to the folder {path.resolve()}: not followed")
                )
                dirs.remove(name)
        for name in sorted(files):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if is_ignored_name(relative):
                listing.problems.append(IgnoredFile(path, "hidden or system file: ignored"))
                continue
            why = _check_file(path, base, relative)
            if why is None:
                listing.entries.append(Entry(relative, path, _read_file(path)))
            else:
                listing.problems.append(Problem(path, why))
    listing.entries.sort(key=lambda e: e.name)
    return listing


def unsafe_member_name(name: str) -> bool:
    """True for a zip member name that could point outside the archive: absolute, a drive, ``..``."""
    text = name.replace("\\", "/")
    parts = text.split("/")
    return text.startswith("/") or (len(text) > 1 and text[1] == ":") or ".." in parts or "\0" in text


def zip_listing(path: Path) -> Listing:
    """The files of a zip, read lazily from one open handle through the size cap.

    Raises ImportFormatError for an unreadable zip or one over the member-count or total-size caps.
    """
    try:
        archive = zipfile.ZipFile(path)  # stays open for the entries' readers; closed when collected
        infos = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as error:
        raise ImportFormatError(f"{path}: not a readable zip ({error})") from None
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise ImportFormatError(
            f"{path} has {len(infos)} members, more than the limit of {MAX_ARCHIVE_MEMBERS}: not imported"
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_ARCHIVE_BYTES:
        raise ImportFormatError(
            f"{path} unpacks to {human_size(total)}, more than the limit of "
            f"{human_size(MAX_ARCHIVE_BYTES)}: not imported (unzip it and import the folder)"
        )
    listing = Listing()
    for info in infos:
        name = info.filename
        if unsafe_member_name(name):
            listing.problems.append(
                Problem(path, f"member {name[:200]!r} has an absolute or '..' name: refused, not read")
            )
            continue
        if info.is_dir():
            continue
        if is_ignored_name(name):
            listing.problems.append(IgnoredFile(path / name, "hidden or system file: ignored"))
            continue
        if Path(name).suffix.lower() in DATA_SUFFIXES and info.file_size > MAX_FILE_BYTES:
            listing.problems.append(Problem(path / name, too_large(info.file_size)))
            continue

        def read(member: zipfile.ZipInfo = info) -> bytes:
            try:
                with archive.open(member) as handle:
                    return read_capped(handle)
            except FileTooLargeError:
                raise
            except Exception as error:  # BadZipFile, zlib.error, encrypted (RuntimeError), odd compression
                raise UnreadableFileError(
                    f"unreadable zip member ({type(error).__name__}: {error})"
                ) from None

        listing.entries.append(Entry(name, path / name, read))
    listing.entries.sort(key=lambda e: e.name)
    return listing


def source_entries(source: Path) -> Listing:
    """All files of a folder (recursively) or a zip, sorted by name, and the ones left out."""
    if source.is_dir():
        return folder_listing(source)
    if zipfile.is_zipfile(source):
        return zip_listing(source)
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


def images_folder_entries(images: Path | None, fmt: str) -> Listing:
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
    """Class names from the first names file (``classes.txt``, ``obj.names``) among ``entries``.

    Raises ImportFormatError when it cannot be read: without it no class id can be mapped.
    """
    for entry in entries:
        if Path(entry.name).name.lower() in NAMES_FILES:
            try:
                text = entry.read().decode("utf-8")
            except ValueError as error:  # UnicodeDecodeError, FileTooLargeError, UnreadableFileError
                raise ImportFormatError(f"{entry.where}: unreadable names file ({error})") from None
            return [line.strip() for line in text.splitlines() if line.strip()]
    return None

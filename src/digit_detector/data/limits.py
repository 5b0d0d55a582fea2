"""What ``data import`` agrees to read: caps against hostile or broken input, and the capped read.

A zip of 1 MB can hold a 1 GiB member (zeros compress ~1000:1), and a folder can hold a file of any
size; the importer reads one file at a time, never more than :data:`MAX_FILE_BYTES` of it, so its
memory stays bounded whatever the source holds. A file over a cap is one problem line in the report
(the rest is imported); an archive over :data:`MAX_ARCHIVE_BYTES` or :data:`MAX_ARCHIVE_MEMBERS` is
refused as a whole, before any member is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

MAX_FILE_BYTES = 64 * 2**20
"""The most bytes one file may hold (a zip member: uncompressed): 64 MiB. A drawing is ~10-500 kB and
a label file or COCO/Kaggle JSON of a few thousand drawings a few MB; a bigger file is refused as a
problem, unread (an index file over it makes the whole source unusable)."""

MAX_ARCHIVE_BYTES = 4 * 2**30
"""The most a zip's members may add up to, uncompressed (as its directory declares them, which
:mod:`zipfile` enforces while reading): 4 GiB. A zip over it is refused before any member is read."""

MAX_ARCHIVE_MEMBERS = 100_000
"""The most members a zip may have (files and folders). A zip over it is refused as a whole."""

MAX_IMAGE_PIXELS = 40_000_000
"""The most pixels an image may have (width x height, e.g. 8000 x 5000), checked from its header
before it is decoded: a decoded RGB image of 40 Mpx takes 120 MB. A bigger one is a problem, unread."""


class FileTooLargeError(ValueError):
    """A file (or zip member) over :data:`MAX_FILE_BYTES`; the message says its size and the cap."""


def human_size(size: int) -> str:
    """``1073741824`` -> ``"1 GiB"``, ``1536`` -> ``"1.5 KiB"`` (binary units, at most one decimal)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def too_large(size: int, limit: int | None = None) -> str:
    """The reason a file of ``size`` bytes is refused (``limit``: MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    return f"{human_size(size)} is over the {human_size(limit)} limit for one file: not read"


def read_capped(handle: IO[bytes], limit: int | None = None) -> bytes:
    """All of ``handle``, in chunks, raising FileTooLargeError as soon as it exceeds ``limit`` bytes
    (MAX_FILE_BYTES). At most ``limit`` + one chunk is ever held, whatever a zip member's header claims.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    chunk_size = 2**20
    chunks: list[bytes] = []
    total = 0
    while chunk := handle.read(chunk_size):
        total += len(chunk)
        if total > limit:
            raise FileTooLargeError(f"more than {human_size(limit)}: over the limit for one file, not read")
        chunks.append(chunk)
    return b"".join(chunks)


def read_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a file of at most ``limit`` (MAX_FILE_BYTES) bytes; FileTooLargeError when bigger."""
    limit = MAX_FILE_BYTES if limit is None else limit
    size = Path(path).stat().st_size
    if size > limit:
        raise FileTooLargeError(too_large(size, limit))
    with Path(path).open("rb") as handle:
        return read_capped(handle, limit)


def read_text(path: Path, limit: int | None = None, encoding: str = "utf-8") -> str:
    """A text file of at most ``limit`` (MAX_FILE_BYTES) bytes; FileTooLargeError, UnicodeDecodeError."""
    return read_file(path, limit).decode(encoding)

"""Import labelled drawings from other tools into our dataset layout
(see :mod:`digit_detector.data.yolo_format`): the checks and the writing here, the source files in
:mod:`.sources`, one reader per format in :mod:`.readers`.

Sources (``--format``, or detected with ``auto``):

- ``kaggle``: the original author's set: folders ``0``..``11`` and ``multiple`` of JPEGs plus a JSON
  file mapping each image path (any prefix, e.g. ``"0/abc.jpg"`` or ``"data/0/abc.jpg"``) to a list
  of ``[x, y, w, h, class]`` boxes in pixels. SRC is the folder (the JSON inside it) or the JSON.
- ``makesense-yolo``: a makesense.ai YOLO zip (one ``.txt`` per image) + ``--images``. Class ids are
  taken as ours unless the export holds a names file (``classes.txt``/``obj.names``), then by name.
- ``makesense-voc``: a makesense.ai Pascal VOC zip (one ``.xml`` per image) + ``--images``.
- ``makesense-csv``: a makesense.ai CSV (``label_name,bbox_x,bbox_y,bbox_width,bbox_height,
  image_name,image_width,image_height``, header optional) + ``--images``.
- ``yolo``: a folder with ``images/`` + ``labels/`` side by side (flat or with split subfolders, as
  our own layout), or images with their ``.txt`` next to them (what ``data autolabel`` writes).
  A ``data.yaml`` / ``classes.txt`` with names maps ids by name.
- ``coco``: a COCO JSON (+ ``--images``, default: the JSON's folder), categories mapped by name.

Label names map to our classes by name (``"4"``, ``"censored"``, ``"other"``; an integer name 0..11
is that class id). Every file that cannot be used (corrupt or missing image, class out of range,
box outside the image, malformed line, unknown label name, image without labels) becomes a
:class:`~.yolo_format.Problem` with the reason and is skipped; the rest is imported. An image with
no label file is a problem, not a background image (write an empty label file for those).
Boxes up to 1 px beyond the border are clipped (rounding in other tools); further is a problem.

Split: ``--split S`` for all, or ``--val-fraction F``: an image goes to ``val`` when the hash of its
file name (sha256 of the base name) falls below F, so the assignment is stable across runs and
sources. Without either, a source split folder (``images/val/...``) is kept, else ``train``.
Output images are PNGs named after the source's relative path; ``meta/<split>.jsonl`` records the
original file for each one. The input is only ever read: ``--out`` may not be, contain or lie inside
the source or ``--images`` folder (refused before anything is written).

Hostile or broken input: class ids are ASCII digits only (``+1``, ``1_0``, ``٧`` are refused; names may
have surrounding spaces), numbers are finite ASCII decimals; one file (a zip member: uncompressed) is
read only up to :data:`~digit_detector.data.limits.MAX_FILE_BYTES`, an image only up to
:data:`~digit_detector.data.limits.MAX_IMAGE_PIXELS`, a bigger one is a problem; a zip over
:data:`~digit_detector.data.limits.MAX_ARCHIVE_BYTES` unpacked or
:data:`~digit_detector.data.limits.MAX_ARCHIVE_MEMBERS` members is refused. Symbolic links leading out of
a source folder, zip members with absolute or ``..`` names and COCO ``file_name`` s outside the images
folder are problems, never read; hidden and system files (``.*``, ``__MACOSX/``, ``Thumbs.db``) are
ignored and counted (see :mod:`.sources`).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps
from tqdm import tqdm

from digit_detector.boxes import InvalidBoxError, clip_xyxy, convert, validate
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.coco import class_id_for_name, short_repr
from digit_detector.data.importers.readers import READERS, detect_format
from digit_detector.data.importers.sources import (
    BORDER_TOLERANCE_PX,
    FORMATS,
    Candidate,
    IgnoredFile,
    ImportFormatError,
    ImportReport,
    LabelName,
)
from digit_detector.data.limits import MAX_IMAGE_PIXELS
from digit_detector.data.yolo_format import (
    CLASS_ID_PATTERN,
    SPLITS,
    LabelFileError,
    Problem,
    append_meta,
    parse_class_id,
    parse_label_text,
    write_data_yaml,
    write_sample,
)
from digit_detector.io import on_white

# --------------------------------------------------------------------------- checks and writing


def _class_id(value: Any) -> int:
    """Our class id for a label value (an id or a name); ValueError naming it otherwise.

    An id is a JSON integer (or an integral float such as ``7.0``) or ASCII digits (``"7"``); a string
    that is not digits is taken as a name (exactly, no surrounding spaces), a :class:`LabelName` by name.
    """
    if isinstance(value, LabelName):
        class_id = class_id_for_name(value.text)
        if class_id is None:
            raise ValueError(f"unknown label name {value.text[:80]!r} (expected one of {list(CLASS_NAMES)})")
        return class_id
    if isinstance(value, str):
        if CLASS_ID_PATTERN.fullmatch(value):
            number: int | float = parse_class_id(value)
        else:
            by_name = class_id_for_name(value) if value == value.strip() else None
            if by_name is None:
                raise ValueError(
                    f"class {value[:80]!r} is not a class id (ASCII digits) or one of {list(CLASS_NAMES)}"
                )
            return by_name
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"class {short_repr(value)} is not a class id or name")
    if not (isinstance(number, int) or (math.isfinite(number) and number == int(number))):
        raise ValueError(f"class {short_repr(value)} is not an integer")
    if not 0 <= number < NUM_CLASSES:
        raise ValueError(f"class {short_repr(value)} is out of range 0..{NUM_CLASSES - 1}")
    return int(number)


def _remap_yolo_text(text: str, names: list[str], source: str) -> str:
    """YOLO text with class ids of a ``names`` list rewritten to our ids (by name)."""
    lines = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            try:
                class_index = parse_class_id(fields[0])
            except ValueError as error:
                raise LabelFileError(f"{source} line {line_no}: {error}") from None
            if not 0 <= class_index < len(names):
                raise LabelFileError(
                    f"{source} line {line_no}: class {class_index} is not in the names list {names}"
                )
            mapped = class_id_for_name(names[class_index])
            if mapped is None:
                raise LabelFileError(
                    f"{source} line {line_no}: label name {names[class_index]!r} is not one of ours"
                )
            fields[0] = str(mapped)
        lines.append(" ".join(fields))
    return "\n".join(lines)


class ImageTooLargeError(ValueError):
    """An image with more than MAX_IMAGE_PIXELS pixels (refused from its header, never decoded)."""


def decode_image(data: bytes) -> NDArray[np.uint8]:
    """RGB uint8 pixels of an encoded image (EXIF rotation applied, transparency on white).

    Raises ImageTooLargeError (before decoding) for more than MAX_IMAGE_PIXELS pixels.
    """
    with Image.open(io.BytesIO(data)) as opened:
        width, height = opened.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageTooLargeError(
                f"image is {width}x{height} px, over the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels: "
                "not read"
            )
        opened.load()
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            image = on_white(image)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _labels(candidate: Candidate, size: tuple[int, int]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Checked class ids and xyxy pixel boxes; raises ValueError with the reason."""
    if candidate.label_text is not None:
        text = candidate.label_text
        if candidate.source_names is not None and list(candidate.source_names) != list(CLASS_NAMES):
            text = _remap_yolo_text(text, candidate.source_names, candidate.label_source)
        return parse_label_text(text, size, candidate.label_source)
    class_ids = np.asarray([_class_id(v) for v in candidate.class_values], dtype=np.int64)
    boxes = np.asarray(candidate.boxes, dtype=np.float64).reshape(-1, 4)
    validate(boxes, candidate.box_format, size, tolerance=BORDER_TOLERANCE_PX)
    xyxy: NDArray[np.float64] = clip_xyxy(convert(boxes, candidate.box_format, "pascal_voc", size), size)
    return class_ids, xyxy


def split_for(name: str, val_fraction: float) -> str:
    """``val`` when the sha256 of the file's base name falls below ``val_fraction``, else ``train``."""
    digest = hashlib.sha256(Path(name.replace("\\", "/")).name.encode("utf-8")).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def stem_for(name: str) -> str:
    """Output file stem for a source-relative name: ``0/abc.jpg`` -> ``0__abc``."""
    path = Path(name.replace("\\", "/"))
    joined = "__".join([*path.parent.parts, path.stem]) if path.parent != Path(".") else path.stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", joined).strip("._") or "image"


def _check_paths(source: Path, out: Path, images: Path | None) -> None:
    """Refuse an output that is, contains or lies inside what the import reads (before any write).

    Read folders: the source folder, ``--images``, and for a JSON source without ``--images`` the JSON's
    folder (where its images are looked for). A source file may not lie where the output writes.
    """
    dst = out.resolve()
    folders = [(source, "the source")] if source.is_dir() else []
    if images is not None:
        folders.append((images, "the --images folder"))
    elif source.is_file() and source.suffix.lower() == ".json":
        folders.append((source.parent, "the folder of the source JSON (where its images are read)"))
    for folder, what in folders:
        read = folder.resolve()
        relation = (
            "is"
            if dst == read
            else "is inside"
            if read in dst.parents
            else "contains"
            if dst in read.parents
            else ""
        )
        if relation:
            raise ImportFormatError(
                f"--out {out} {relation} {what} {folder}: choose an output folder outside it "
                "(the input is only ever read, never written)"
            )
    if source.is_file():
        src = source.resolve()
        written = [dst / "images", dst / "labels", dst / "meta", dst / "data.yaml"]
        if src == dst or any(src == w or w in src.parents for w in written):
            raise ImportFormatError(
                f"--out {out} would write where the source {source} lies: choose another output folder"
            )


def import_dataset(
    source: Path,
    out: Path,
    fmt: str = "auto",
    images: Path | None = None,
    split: str | None = None,
    val_fraction: float | None = None,
    progress: bool | None = None,
) -> ImportReport:
    """Import ``source`` into the dataset at ``out``; bad files are reported in the result, not raised.

    Raises ImportFormatError only when the source as a whole is unusable. ``progress=None`` shows a
    tqdm bar when stderr is a terminal.
    """
    source, out = Path(source), Path(out)
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if split is not None and split not in SPLITS:
        raise ImportFormatError(f"unknown split {split!r}; expected one of {SPLITS}")
    if val_fraction is not None and not 0.0 <= val_fraction <= 1.0:
        raise ImportFormatError(f"--val-fraction must be within 0..1, got {val_fraction}")
    if not source.exists():
        raise ImportFormatError(f"{source} does not exist")
    _check_paths(source, out, images)
    resolved = detect_format(source) if fmt == "auto" else fmt
    candidates, problems = READERS[resolved](source, images)
    report = ImportReport(
        out=out,
        format=resolved,
        problems=[p for p in problems if not isinstance(p, IgnoredFile)],
        ignored=[p for p in problems if isinstance(p, IgnoredFile)],
    )
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    used_stems: set[str] = set()
    try:
        for candidate in tqdm(
            candidates,
            desc=f"import {resolved}",
            unit="img",
            disable=None if progress is None else not progress,
        ):
            where = candidate.image.where
            try:
                data = candidate.image.read()
            except ValueError as error:  # FileTooLargeError, UnreadableFileError
                report.problems.append(Problem(where, str(error)))
                continue
            try:
                pixels = decode_image(data)
            except ImageTooLargeError as error:
                report.problems.append(Problem(where, str(error)))
                continue
            except Exception as error:  # PIL raises many types for corrupt files
                report.problems.append(
                    Problem(where, f"corrupt or unreadable image ({type(error).__name__}: {error})")
                )
                continue
            height, width = pixels.shape[:2]
            if candidate.expected_size is not None and candidate.expected_size != (width, height):
                expected_w, expected_h = candidate.expected_size
                report.problems.append(
                    Problem(
                        where, f"image is {width}x{height} px but the labels say {expected_w}x{expected_h}"
                    )
                )
                continue
            try:
                class_ids, boxes = _labels(candidate, (width, height))
            except (ValueError, InvalidBoxError, LabelFileError) as error:
                report.problems.append(Problem(where, str(error)))
                continue
            target = split or (split_for(candidate.name, val_fraction) if val_fraction is not None else None)
            target = target or candidate.split or "train"
            stem = stem_for(candidate.name)
            base, counter = stem, 2
            while stem in used_stems:
                stem, counter = f"{base}-{counter}", counter + 1
            existing = [
                out / "images" / s / f"{stem}.png"
                for s in SPLITS
                if (out / "images" / s / f"{stem}.png").exists()
            ]
            if existing:
                report.problems.append(Problem(where, f"already imported as {existing[0]} (skipped)"))
                continue
            used_stems.add(stem)
            path = write_sample(out, target, stem, pixels, class_ids, boxes)
            report.imported[target] = report.imported.get(target, 0) + 1
            records[target].append(
                {
                    "image": path.name,
                    "source": str(where),
                    "labels": candidate.label_source,
                    "format": resolved,
                    "objects": len(class_ids),
                }
            )
    finally:
        for split_name, split_records in records.items():
            append_meta(out, split_name, split_records)
        if records or out.exists():
            write_data_yaml(out)
    return report

"""Label audit: find mislabelled and doubtful boxes with cross-validated crop classifiers (the classifiers
and their out-of-fold training are in :mod:`digit_detector.audit.classifier`; ranking, report and
corrections here).

``python -m digit_detector audit DIR --out REPORT_DIR [--split train] [--model cnn|vit] [--folds K]``

Every labelled box of a split is cut out (margin 10 % of its side + 2 px, padded white), resized keeping
its aspect onto a white ``crop`` x ``crop`` grayscale square, and a small classifier (a CNN, or a tiny
vision transformer; trained from scratch, nothing downloaded) is trained with K-fold cross-validation,
so that every box gets an *out-of-fold* prediction from a model that never saw its label. Boxes are
ranked by how likely their label is wrong (confident learning, as in cleanlab):
``score = 1 - p_oof(given label)``; per-class thresholds (the mean self-confidence of each class) flag
the boxes whose confident label differs from the given one (``likely_label_issues`` in the summary).

The report folder gets ``suspects.csv`` (every box, most suspect first), ``suspects.png`` (contact
sheet of the top suspects), ``confusion_matrix.png`` (given vs out-of-fold predicted) and
``summary.json`` (out-of-fold accuracy and the settings).

``--apply FILE --to OUT_DIR`` reads an edited ``suspects.csv`` with an extra column ``action`` and
writes a corrected copy of the dataset (see :func:`apply_actions`); the input is never changed.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.audit.classifier import (
    MODELS,
    AuditConfig,
    AuditError,
    BoxRef,
    OutOfFoldRanking,
    cut_crop,
    extract_crops,
    out_of_fold_probabilities,
    relative_image,
    vit_patch_size,
)
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.yolo_format import SPLITS, Sample, load_split, write_data_yaml, write_sample
from digit_detector.io import read_gray, read_pixels
from digit_detector.render import grid

CSV_COLUMNS = ("image", "x1", "y1", "x2", "y2", "given_label", "suggested_label", "score")
KEEP = -1  # parse_action's "keep this box as it is"
MATCH_TOLERANCE_PX = 0.05  # a CSV row's box matches a dataset box within this (coordinates have 2 decimals)

# --------------------------------------------------------------------------- ranking and report


@dataclass
class AuditResult(OutOfFoldRanking):
    """Out-of-fold probabilities of every box, and what follows from them."""

    root: Path
    config: AuditConfig
    refs: list[BoxRef]
    crops: NDArray[np.uint8]
    probabilities: NDArray[np.float64]  # (N, C) out of fold
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def given(self) -> NDArray[np.int64]:
        return np.array([ref.given for ref in self.refs], dtype=np.int64)

    def class_thresholds(self) -> NDArray[np.float64]:
        """Per-class threshold: mean out-of-fold probability of the class over boxes given that class."""
        thresholds = np.ones(NUM_CLASSES)
        for class_id in range(NUM_CLASSES):
            members = self.given == class_id
            if members.any():
                thresholds[class_id] = self.probabilities[members, class_id].mean()
        return thresholds

    def likely_issues(self) -> NDArray[np.bool_]:
        """Confident-learning flag: the likeliest class at or above its threshold is not the given one."""
        above = self.probabilities >= self.class_thresholds()[None, :]
        masked = np.where(above, self.probabilities, -1.0)
        confident = masked.argmax(axis=1)
        return np.asarray(above.any(axis=1) & (confident != self.given), dtype=np.bool_)

    def confusion(self) -> NDArray[np.int64]:
        matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        np.add.at(matrix, (self.given, self.predicted), 1)
        return matrix

    def summary(self) -> dict[str, Any]:
        given, predicted = self.given, self.predicted
        per_class = {
            name: round(float((predicted[given == i] == i).mean()), 4)
            for i, name in enumerate(CLASS_NAMES)
            if (given == i).any()
        }
        return {
            "dataset": str(self.root),
            "split": self.config.split,
            "images": len({ref.image for ref in self.refs}),
            "boxes": len(self.refs),
            "oof_accuracy": round(self.accuracy, 4),
            "per_class_accuracy": per_class,
            "per_class_threshold": {
                name: round(float(t), 4)
                for name, t in zip(CLASS_NAMES, self.class_thresholds(), strict=True)
                if (given == CLASS_NAMES.index(name)).any()
            },
            "likely_label_issues": int(self.likely_issues().sum()),
            "boxes_per_class": {
                name: int(count)
                for name, count in zip(CLASS_NAMES, np.bincount(given, minlength=NUM_CLASSES), strict=True)
            },
            "model": self.config.model,
            "folds": self.config.folds,
            "epochs": self.config.resolved_epochs,
            "lr": self.config.resolved_lr,
            "crop": self.config.crop,
            "batch_size": self.config.batch_size,
            "augment": self.config.augment,
            "seed": self.config.seed,
            "device": self.config.device,
            "seconds": round(self.seconds, 1),
            "skipped_files": self.problems,
        }


def run_audit(root: Path, config: AuditConfig, *, progress: bool = True) -> AuditResult:
    """Cut the split's boxes, cross-validate the classifier and return the out-of-fold result."""
    root = Path(root)
    if config.model not in MODELS:
        raise AuditError(f"unknown model {config.model!r}; choose one of {MODELS}")
    if config.crop < 8:
        raise AuditError(f"--crop must be at least 8, got {config.crop}")
    if config.model == "vit":
        vit_patch_size(config.crop)
    if not (root / "images" / config.split).is_dir():
        raise AuditError(f"no split {config.split!r} in {root} (expected {root}/images/{config.split}/)")
    start = time.perf_counter()
    contents = load_split(root, config.split)
    problems = [f"{p.path}: {p.reason}" for p in contents.problems]
    crops, refs = extract_crops(root, contents.samples, config.crop, progress=progress)
    if not refs:
        raise AuditError(f"no labelled boxes in {root}/images/{config.split}")
    labels = np.array([ref.given for ref in refs], dtype=np.int64)
    probabilities = out_of_fold_probabilities(crops, labels, config, progress=progress)
    return AuditResult(root, config, refs, crops, probabilities, time.perf_counter() - start, problems)


def write_suspects_csv(result: AuditResult, path: Path) -> None:
    """Every box, most suspect first: ``image,x1,y1,x2,y2,given_label,suggested_label,score``."""
    scores, predicted = result.scores, result.predicted
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for index in result.order.tolist():
            ref = result.refs[index]
            writer.writerow(
                [
                    ref.image,
                    *(f"{v:.2f}" for v in ref.box),
                    CLASS_NAMES[ref.given],
                    CLASS_NAMES[int(predicted[index])],
                    f"{scores[index]:.4f}",
                ]
            )


def suspect_tile(
    gray: NDArray[np.uint8], ref: BoxRef, suggested: int, score: float, size: int = 160
) -> Image.Image:
    """The box's crop with 'given X' (red) and 'suggested Y score' (green) above it."""
    band = 34
    tile = Image.new("RGB", (size, size), "white")
    crop = Image.fromarray(cut_crop(gray, ref.box, size - band)).convert("RGB")
    tile.paste(crop, ((size - crop.width) // 2, band))
    draw = ImageDraw.Draw(tile)
    font = ImageFont.load_default(size=13)
    draw.text((4, 2), f"given {CLASS_NAMES[ref.given]}", fill=(200, 0, 0), font=font)
    draw.text((4, 17), f"suggest {CLASS_NAMES[suggested]}  {score:.2f}", fill=(0, 130, 0), font=font)
    return tile


def suspects_sheet(result: AuditResult, count: int, columns: int = 8) -> Image.Image:
    """Contact sheet of the ``count`` most suspect boxes (via :func:`digit_detector.render.grid`)."""
    scores, predicted = result.scores, result.predicted
    cache: dict[Path, NDArray[np.uint8]] = {}
    tiles = []
    for index in result.order[:count].tolist():
        ref = result.refs[index]
        if ref.image_path not in cache:
            cache[ref.image_path] = read_gray(ref.image_path)
        tiles.append(suspect_tile(cache[ref.image_path], ref, int(predicted[index]), float(scores[index])))
    return grid(tiles, columns, tile_size=160)


def plot_confusion(result: AuditResult, path: Path) -> None:
    """Given (rows) vs out-of-fold predicted (columns) counts, coloured by each row's share."""
    from digit_detector.plots import plot_confusion_matrix  # matplotlib: only when the report is written

    plot_confusion_matrix(
        result.confusion(),
        CLASS_NAMES,
        path,
        title=(
            f"Label audit ({result.config.model}, {result.config.folds} folds): "
            f"out-of-fold accuracy {result.accuracy:.2%}"
        ),
        row_label="given label",
        column_label="out-of-fold predicted",
    )


def write_report(result: AuditResult, out: Path, sheet_count: int = 64) -> Path:
    """suspects.csv, suspects.png, confusion_matrix.png and summary.json into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_suspects_csv(result, out / "suspects.csv")
    suspects_sheet(result, sheet_count).save(out / "suspects.png")
    plot_confusion(result, out / "confusion_matrix.png")
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    return out


# --------------------------------------------------------------------------- applying decisions


@dataclass
class ApplyStats:
    images: int = 0
    boxes_in: int = 0
    kept: int = 0
    relabelled: int = 0
    dropped: int = 0


def parse_action(text: str, suggested: str, where: str) -> int | None:
    """``keep``/empty -> KEEP, ``drop`` -> None, ``relabel:<name>`` (bare: ``suggested``) -> class id."""
    action = text.strip()
    lowered = action.lower()
    if lowered in ("", "keep"):
        return KEEP
    if lowered == "drop":
        return None
    if lowered == "relabel" or lowered.startswith("relabel:"):
        name = (action.split(":", 1)[1] if ":" in action else suggested).strip().lower()
        if name not in CLASS_NAMES:
            raise AuditError(f"{where}: unknown class {name!r} in action {text!r} (one of {CLASS_NAMES})")
        return CLASS_NAMES.index(name)
    raise AuditError(f"{where}: action {text!r} is not keep, drop or relabel:<class name>")


def read_decisions(
    csv_path: Path, root: Path, samples: Sequence[Sample]
) -> dict[tuple[str, int], int | None]:
    """(image, box index) -> new class id, or None to drop, for the rows of an edited suspects CSV."""
    by_image = {relative_image(root, s.image_path): s for s in samples}
    used: dict[str, set[int]] = {}
    decisions: dict[tuple[str, int], int | None] = {}
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets add a BOM
        reader = csv.DictReader(handle)
        needed = {"image", "x1", "y1", "x2", "y2", "given_label", "action"}
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise AuditError(f"{csv_path}: missing column(s) {sorted(missing)}")
        for line_no, row in enumerate(reader, start=2):
            where = f"{csv_path} line {line_no}"
            sample = by_image.get(row["image"])
            if sample is None:
                raise AuditError(f"{where}: image {row['image']!r} is not in the split")
            try:
                box = np.array([float(row[k]) for k in ("x1", "y1", "x2", "y2")])
            except ValueError:
                raise AuditError(f"{where}: box coordinates are not numbers") from None
            taken = used.setdefault(row["image"], set())
            distance = np.abs(sample.boxes_xyxy - box[None, :]).max(axis=1) if len(sample.boxes_xyxy) else []
            candidates = [i for i, d in enumerate(distance) if d <= MATCH_TOLERANCE_PX and i not in taken]
            if not candidates:
                raise AuditError(f"{where}: no (unlisted) box of {row['image']} at {box.tolist()}")
            index = min(candidates, key=lambda i: float(distance[i]))
            given = CLASS_NAMES[int(sample.class_ids[index])]
            if row["given_label"].strip() != given:
                raise AuditError(
                    f"{where}: given_label {row['given_label']!r} but the dataset says {given!r} "
                    "(is the CSV from another version of the dataset?)"
                )
            taken.add(index)
            action = parse_action(row.get("action") or "", row.get("suggested_label") or "", where)
            decisions[(row["image"], index)] = int(sample.class_ids[index]) if action == KEEP else action
    return decisions


def apply_actions(root: Path, split: str, csv_path: Path, out: Path) -> ApplyStats:
    """Write a corrected copy of the dataset under ``out``; the input dataset is never changed.

    ``csv_path`` is a suspects CSV (any subset of its rows, any order) with an extra column ``action``:
    ``keep`` (or empty), ``drop`` (the box is removed), ``relabel:<class name>`` (e.g. ``relabel:7``,
    ``relabel:other``) or a bare ``relabel`` (take the row's ``suggested_label``). Boxes not in the CSV are
    kept. Images and labels of ``split`` are written with ``write_sample``; the other splits and their
    metadata are copied as they are, ``data.yaml`` is rewritten without the audited split's fingerprint
    and the audited split's ``meta/<split>.jsonl`` is left out (its per-object records would be stale).
    """
    root, out = Path(root), Path(out)
    if not (root / "images" / split).is_dir():
        raise AuditError(f"no split {split!r} in {root} (expected {root}/images/{split}/)")
    if out.resolve() == root.resolve() or out.resolve().is_relative_to(root.resolve()):
        raise AuditError(f"--to {out} must lie outside the dataset {root}")
    if out.exists() and any(out.iterdir()):
        raise AuditError(f"--to {out} exists and is not empty")
    contents = load_split(root, split)
    for problem in contents.problems:
        print(f"skipped {problem.path}: {problem.reason}", file=sys.stderr)
    decisions = read_decisions(csv_path, root, contents.samples)
    stems = [s.image_path.stem for s in contents.samples]
    if len(set(stems)) != len(stems):
        raise AuditError(f"{root}/images/{split} has images that differ only in their suffix")
    stats = ApplyStats()
    for sample in contents.samples:
        image = relative_image(root, sample.image_path)
        class_ids: list[int] = []
        boxes: list[NDArray[np.float64]] = []
        for index, (class_id, box) in enumerate(
            zip(sample.class_ids.tolist(), sample.boxes_xyxy, strict=True)
        ):
            stats.boxes_in += 1
            new = decisions.get((image, index), class_id)
            if new is None:
                stats.dropped += 1
                continue
            if new != class_id:
                stats.relabelled += 1
            else:
                stats.kept += 1
            class_ids.append(new)
            boxes.append(box)
        write_sample(
            out,
            split,
            sample.image_path.stem,
            read_pixels(sample.image_path),
            np.array(class_ids, dtype=np.int64),
            np.array(boxes, dtype=np.float64).reshape(-1, 4),
        )
        stats.images += 1
    for other in SPLITS:
        if other == split:
            continue
        for kind in ("images", "labels"):
            if (root / kind / other).is_dir():
                shutil.copytree(root / kind / other, out / kind / other)
        if (root / "meta" / f"{other}.jsonl").is_file():
            (out / "meta").mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / "meta" / f"{other}.jsonl", out / "meta" / f"{other}.jsonl")
    fingerprints: dict[str, str] = {}
    if (root / "data.yaml").is_file():
        existing = yaml.safe_load((root / "data.yaml").read_text()) or {}
        fingerprints = {k: v for k, v in (existing.get("fingerprints") or {}).items() if k != split}
    write_data_yaml(out, fingerprints)
    return stats

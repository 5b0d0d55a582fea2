"""The boxes a detector finds in training canvases, labelled as a rejecting namer learns them (the class of
the true box a found box matches, or "not one whole object"), and the file ``namer find-boxes`` writes them
to (:class:`FoundBoxes`), so that training elsewhere need not find them again."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import CLASS_NAMES
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.io import read_image
from digit_detector.parallel import default_workers, ordered_map
from digit_detector.training.crop_sets import CropSet, canvas_ink

if TYPE_CHECKING:
    from digit_detector.detector import Detector


PROPOSAL_MATCH_IOU = 0.5  # a found box this close to a true box is that object (learnt as its class)
PROPOSAL_REJECT_IOU = 0.4  # one this far from every true box is not one whole object (the reject label)


def _label_found(
    found: NDArray[np.float32], sample: Sample, reject: int
) -> tuple[NDArray[np.float32], list[int]]:
    """The found boxes ``(K, 4)`` of one canvas worth learning from and their labels (see
    :func:`proposal_crop_set`): the matched true box's class, or ``reject``."""
    if len(sample.class_ids):
        overlap = box_iou(found.astype(np.float64), np.asarray(sample.boxes_xyxy, np.float64))
        best, match = overlap.max(axis=1), overlap.argmax(axis=1)
    else:
        best, match = np.zeros(len(found)), np.zeros(len(found), dtype=np.int64)
    keep = (best < PROPOSAL_REJECT_IOU) | (best >= PROPOSAL_MATCH_IOU)
    labels = [
        int(sample.class_ids[matched]) if value >= PROPOSAL_MATCH_IOU else reject
        for value, matched in zip(best[keep], match[keep], strict=True)
    ]
    return found[keep], labels


@dataclass
class FoundBoxes:
    """The boxes detectors found in the first canvases of one split, labelled as :func:`proposal_crop_set`
    labels them, without the canvases' ink: what ``namer find-boxes`` writes, so that a training run
    elsewhere (a lent GPU, where finding them is CPU-bound) need not find them again. ``canvases`` and
    ``truth_digest`` tie the boxes to the canvases they were found in (:func:`found_crop_set` checks both)."""

    split: str
    canvases: list[str]  # the image files' names, in the split's order
    truth_digest: str  # of the canvases' true classes and boxes (:func:`truth_digest`)
    detectors: list[str]  # the versions of the weights that found them
    boxes: NDArray[np.float32]  # (K, 4) xyxy in the detector's input pixels
    image_index: NDArray[np.int64]  # (K,) into ``canvases``
    labels: NDArray[np.int64]  # (K,) class, or the number of classes for "not one whole object"

    def crop_set(self, ink: torch.Tensor) -> CropSet:
        """The boxes as a crop set in the canvases' ``ink`` ``(N, 1, S, S)``."""
        reject = len(CLASS_NAMES)
        return CropSet(
            ink,
            torch.from_numpy(self.boxes.copy()),
            torch.from_numpy(self.image_index.copy()),
            torch.from_numpy(self.labels.copy()),
            ["found-reject" if label == reject else "found" for label in self.labels.tolist()],
        )


def truth_digest(samples: Sequence[Sample]) -> str:
    """A digest of ``samples``' names, true classes and boxes (to 0.01 px): equal for canvases generated
    again from the same recipe and seed, different when any label differs."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(sample.image_path.name.encode())
        digest.update(np.asarray(sample.class_ids, dtype=np.int64).tobytes())
        digest.update(
            np.round(np.asarray(sample.boxes_xyxy, dtype=np.float64) * 100).astype(np.int64).tobytes()
        )
    return digest.hexdigest()


def _stacked(inks: list[torch.Tensor]) -> torch.Tensor:
    """The canvases' ink ``(N, 1, S, S)``; an empty tensor for none."""
    return torch.stack(inks) if inks else torch.zeros(0, 1, 1, 1, dtype=torch.uint8)


def find_boxes(
    detectors: Sequence[Detector],
    root: Path,
    split: str,
    limit: int | None = None,
    score_threshold: float = 0.1,
    batch_size: int = 32,
    progress: bool = True,
) -> tuple[FoundBoxes, torch.Tensor]:
    """The boxes each of ``detectors`` finds in ``split``'s canvases (the first ``limit``; down to
    ``score_threshold`` objectness, before its containment rule), labelled (:func:`proposal_crop_set`), and
    the canvases' ink ``(N, 1, S, S)``. Each canvas is read once, whatever the number of detectors. Reading
    is 1.6 ms of the 22 ms a canvas takes with two detectors on these 2 cores: the detectors' pipeline is
    the limit (not reading), so the canvases are read here, not in a pool."""
    samples = load_split(Path(root), split).samples[:limit]
    reject = len(CLASS_NAMES)
    inks: list[torch.Tensor] = []
    boxes: list[NDArray[np.float32]] = []
    index: list[int] = []
    labels: list[int] = []
    bar = tqdm(total=len(samples), desc=f"found boxes {split}", disable=not progress)
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        images = tuple(read_image(sample.image_path) for sample in chunk)
        letterboxes = []
        for image in images:
            ink, letterbox = canvas_ink(image)
            inks.append(torch.from_numpy(ink))
            letterboxes.append(letterbox)
        for detector in detectors:
            results = detector(images, score_threshold=score_threshold, suppress_contained=False)
            for number, (sample, letterbox, result) in enumerate(
                zip(chunk, letterboxes, results, strict=True)
            ):
                if not result.detections:
                    continue
                found = np.asarray([d.box for d in result.detections], dtype=np.float32)
                kept, their_labels = _label_found(found, sample, reject)
                boxes.extend(letterbox.to_input(kept))
                index.extend([start + number] * len(kept))
                labels.extend(their_labels)
        bar.update(len(chunk))
    bar.close()
    found_boxes = FoundBoxes(
        split=split,
        canvases=[sample.image_path.name for sample in samples],
        truth_digest=truth_digest(samples),
        detectors=[detector.metadata.version for detector in detectors],
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        image_index=np.asarray(index, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64),
    )
    return found_boxes, _stacked(inks)


def proposal_crop_set(
    detectors: Sequence[Detector], root: Path, split: str, limit: int | None = None, progress: bool = True
) -> CropSet:
    """The boxes each of ``detectors`` finds in ``split``'s first ``limit`` canvases (:func:`find_boxes`),
    labelled as a rejecting second stage learns them: the class of the true box a box overlaps at IoU >=
    :data:`PROPOSAL_MATCH_IOU`, the reject label (the number of classes) when it overlaps none by
    :data:`PROPOSAL_REJECT_IOU`; boxes in between are left out. Kinds are ``found`` and ``found-reject``."""
    found, ink = find_boxes(detectors, root, split, limit, progress=progress)
    return found.crop_set(ink)


def found_crop_set(
    found: FoundBoxes, root: Path, workers: int | None = None, progress: bool = True
) -> CropSet:
    """The crop set of boxes found earlier (:func:`find_boxes`, saved with :func:`save_found_boxes`) in
    ``root``'s canvases, their ink read again by ``workers`` processes; ``ValueError`` when ``root`` does
    not hold the canvases they were found in (other names, or other true labels)."""
    samples = load_split(Path(root), found.split).samples[: len(found.canvases)]
    names = [sample.image_path.name for sample in samples]
    if names != found.canvases or truth_digest(samples) != found.truth_digest:
        raise ValueError(
            f"the found boxes were found in other canvases than {root}'s {found.split} split "
            f"({len(found.canvases):,} canvases from {found.canvases[0] if found.canvases else '-'}): "
            "make the data again with the same recipe and seed, or find the boxes again"
        )
    read = ordered_map(
        canvas_ink,
        [sample.image_path for sample in samples],
        default_workers(workers),
        desc=f"found boxes {found.split}",
        progress=progress,
    )
    return found.crop_set(_stacked([torch.from_numpy(ink) for ink, _ in read]))


FOUND_BOXES_FORMAT = "digit-detector found boxes 1"


def save_found_boxes(sets: Sequence[FoundBoxes], path: Path) -> Path:
    """Write ``sets`` to one ``.npz`` file (no pickled objects: its description is a JSON string)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    description = {
        "format": FOUND_BOXES_FORMAT,
        "sets": [
            {
                "split": s.split,
                "canvases": s.canvases,
                "truth_digest": s.truth_digest,
                "detectors": s.detectors,
            }
            for s in sets
        ],
    }
    arrays: dict[str, Any] = {"description": np.asarray(json.dumps(description))}
    for number, found in enumerate(sets):
        arrays[f"boxes_{number}"] = found.boxes
        arrays[f"image_index_{number}"] = found.image_index
        arrays[f"labels_{number}"] = found.labels
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def load_found_boxes(path: Path) -> list[FoundBoxes]:
    """The sets :func:`save_found_boxes` wrote to ``path``; ``ValueError`` saying what is wrong with a file
    that is not one (missing arrays, other format, unreadable)."""
    try:
        with np.load(Path(path), allow_pickle=False) as arrays:
            description = json.loads(str(arrays["description"]))
            if description.get("format") != FOUND_BOXES_FORMAT:
                raise ValueError(f"its format is {description.get('format')!r}, not {FOUND_BOXES_FORMAT!r}")
            sets = []
            for number, entry in enumerate(description["sets"]):
                found = FoundBoxes(
                    split=str(entry["split"]),
                    canvases=[str(name) for name in entry["canvases"]],
                    truth_digest=str(entry["truth_digest"]),
                    detectors=[str(version) for version in entry["detectors"]],
                    boxes=np.asarray(arrays[f"boxes_{number}"], dtype=np.float32).reshape(-1, 4),
                    image_index=np.asarray(arrays[f"image_index_{number}"], dtype=np.int64),
                    labels=np.asarray(arrays[f"labels_{number}"], dtype=np.int64),
                )
                if not len(found.boxes) == len(found.image_index) == len(found.labels):
                    raise ValueError(f"set {number} has boxes, canvas indices and labels of other lengths")
                indices = found.image_index
                if len(indices) and (indices.min() < 0 or indices.max() >= len(found.canvases)):
                    raise ValueError(f"set {number} points at canvases it does not name")
                sets.append(found)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path} is not a found-boxes file (namer find-boxes): {error}") from error
    return sets


def found_box_sets(
    detectors: Sequence[Detector],
    data: Path,
    extra_data: Sequence[Path] = (),
    limit: int | None = None,
) -> list[tuple[FoundBoxes, torch.Tensor]]:
    """What ``namer train --rejects`` learns and is scored on besides the true boxes (:func:`find_boxes`,
    with the canvases' ink): the boxes ``detectors`` find in the first ``limit`` training canvases of
    ``data`` and of each of ``extra_data``, then those the last one finds in ``data``'s val split."""
    train = [find_boxes(detectors, root, "train", limit) for root in [data, *extra_data]]
    return [*train, find_boxes(detectors[-1:], data, "val")]

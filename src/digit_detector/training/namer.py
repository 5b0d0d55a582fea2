"""Training the second stage (:mod:`digit_detector.naming`): the crop classifier that names detected boxes.

Crops come from the true boxes of a dataset in our YOLO layout, through the same path as inference
(:func:`~digit_detector.preprocess.preprocess` to the 192x192 input, then
:func:`~digit_detector.naming.classifier_input`), optionally from the MNIST originals the split rule allows
and from the boxes a detector finds (:func:`proposal_crop_set`, for a classifier that rejects).
Each batch is augmented on the fly: the box is jittered as a detector's box would be (shift, scale), the
crop is rotated, sheared and scaled, and the stroke is thickened or thinned by a pixel.

    python -m digit_detector namer train --data data/synth --minutes 14 \
        --out weights/yolov3-tiny.namer.safetensors
    python -m digit_detector namer train --mnist-only --minutes 12 --out runs/namer-mnist/namer.safetensors
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import CLASS_NAMES, is_digit
from digit_detector.data import sources
from digit_detector.data.yolo_format import Sample, boxed_objects, load_split
from digit_detector.io import read_image
from digit_detector.naming import (
    CropClassifier,
    Namer,
    NamerConfig,
    NamerEnsemble,
    classifier_input,
    classifiers_of,
    load_namer,
    namer_config_record,
)
from digit_detector.parallel import default_workers, ordered_map
from digit_detector.preprocess import Letterbox, preprocess
from digit_detector.weights import save_tensors

if TYPE_CHECKING:
    from digit_detector.detector import Detector

SHAPE_KEYS = ("kind", "config", "members", "class_names")  # record keys save_namer writes from the model


@dataclass
class CropSet:
    """Labelled boxes in ink images: what the classifier learns from or is scored on."""

    ink: torch.Tensor  # (N, 1, H, W) uint8, 255 = black
    boxes: torch.Tensor  # (K, 4) float32 xyxy in the image's pixels
    image_index: torch.Tensor  # (K,) int64
    labels: torch.Tensor  # (K,) int64
    kinds: list[str]  # (K,) where each box came from: "mnist", "font", "hershey", "other", "censored", ...

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> CropSet:
        """The same set with its images on ``device`` (crops are cut where the images are)."""
        return dataclasses.replace(self, ink=self.ink.to(device))

    def images_of(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The float ink of the images the boxes ``rows`` lie in, and each box's index into them."""
        images, local = torch.unique(self.image_index[rows], return_inverse=True)
        return self.ink[images].float().div_(255.0), local

    def crops(
        self, rows: torch.Tensor, config: NamerConfig, boxes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """What a classifier of ``config`` sees of the boxes ``rows`` (or of ``boxes`` in their place)."""
        ink, local = self.images_of(rows)
        chosen = self.boxes[rows] if boxes is None else boxes
        return classifier_input(ink, chosen, local, config)


def _canvas_ink(canvas: Path | Image.Image) -> tuple[NDArray[np.uint8], Letterbox]:
    """A canvas (or its path) through the inference preprocessing, as ink (255 = black) ``(1, S, S)``, and
    its letterbox."""
    batch, letterbox = preprocess(read_image(canvas) if isinstance(canvas, Path) else canvas)
    ink = (255.0 * (1.0 - batch[0].mean(dim=0, keepdim=True))).round().to(torch.uint8).numpy()
    return ink, letterbox


def canvas_crop_set(
    root: Path, split: str, limit: int | None = None, progress: bool = True, workers: int | None = None
) -> CropSet:
    """The true boxes of ``split`` in ``root``, in the detector's 192x192 input space (the canvases read
    by ``workers`` processes, default one per core)."""
    samples = load_split(Path(root), split).samples
    if limit is not None:
        samples = samples[:limit]
    objects_by_image = boxed_objects(Path(root), split)
    inks: list[torch.Tensor] = []
    boxes: list[torch.Tensor] = []
    index: list[int] = []
    labels: list[int] = []
    kinds: list[str] = []
    paths = [sample.image_path for sample in samples]
    read = ordered_map(_canvas_ink, paths, default_workers(workers), desc=f"crops {split}", progress=progress)
    for number, (sample, (ink, letterbox)) in enumerate(zip(samples, read, strict=True)):
        inks.append(torch.from_numpy(ink))
        if len(sample.class_ids) == 0:
            continue
        boxes.append(torch.from_numpy(letterbox.to_input(sample.boxes_xyxy)).float())
        index.extend([number] * len(sample.class_ids))
        labels.extend(int(c) for c in sample.class_ids)
        known = objects_by_image.get(sample.image_path.resolve())
        if known is None or len(known) != len(sample.class_ids):
            kinds.extend(CLASS_NAMES[int(c)] for c in sample.class_ids)
        else:  # a digit's source ("mnist", "font", "hershey"); other objects their class name
            kinds.extend(
                str(obj["source"].get("kind"))
                if is_digit(int(obj["class_id"]))
                else CLASS_NAMES[int(obj["class_id"])]
                for obj in known
            )
    return CropSet(
        torch.stack(inks),
        torch.cat(boxes) if boxes else torch.zeros(0, 4),
        torch.tensor(index, dtype=torch.int64),
        torch.tensor(labels, dtype=torch.int64),
        kinds,
    )


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
            ink, letterbox = _canvas_ink(image)
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
    return found_boxes, torch.stack(inks) if inks else torch.zeros(0, 1, 1, 1, dtype=torch.uint8)


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
        _canvas_ink,
        [sample.image_path for sample in samples],
        default_workers(workers),
        desc=f"found boxes {found.split}",
        progress=progress,
    )
    inks = [torch.from_numpy(ink) for ink, _ in read]
    ink = torch.stack(inks) if inks else torch.zeros(0, 1, 1, 1, dtype=torch.uint8)
    return found.crop_set(ink)


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
                if len(
                    found.image_index
                ) and not 0 <= found.image_index.min() <= found.image_index.max() < len(found.canvases):
                    raise ValueError(f"set {number} points at canvases it does not name")
                sets.append(found)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path} is not a found-boxes file (namer find-boxes): {error}") from error
    return sets


def mnist_crop_set(split: str, cache_dir: Path | None = None) -> CropSet:
    """The original 28x28 MNIST digits the split rule gives ``split`` (those excluded for a wrong or doubtful
    label left out), each boxed at its ink."""
    digits = sources.load_mnist(cache_dir)
    excluded = sources.mnist_excluded()
    inks, boxes, labels = [], [], []
    for digit, images in enumerate(digits):
        for index in sources.mnist_split_range(len(images), split):
            if (digit, index) in excluded:
                continue
            image = images[index]
            rows, cols = np.nonzero(image > sources.MNIST_INK_LEVEL)
            if len(rows) == 0:
                continue
            inks.append(image)
            boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
            labels.append(digit)
    count = len(labels)
    return CropSet(
        torch.from_numpy(np.stack(inks)).unsqueeze(1),
        torch.tensor(boxes, dtype=torch.float32),
        torch.arange(count),
        torch.tensor(labels, dtype=torch.int64),
        ["mnist-original"] * count,
    )


def jitter_boxes(
    boxes: torch.Tensor, generator: torch.Generator, shift: float = 0.08, scale: float = 0.12
) -> torch.Tensor:
    """Boxes moved and resized as a detector's boxes differ from the true ones."""
    size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    centre = centre + (torch.rand(centre.shape, generator=generator) * 2 - 1) * shift * size
    size = size * torch.exp((torch.rand(size.shape, generator=generator) * 2 - 1) * scale)
    return torch.cat((centre - size / 2, centre + size / 2), dim=1)


def augment_crops(crops: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotation ±12°, shear ±0.2, scale ±10 % (one affine warp of every channel), then the ink (channel 0)
    a pixel thicker or thinner (a quarter of the crops each)."""
    count = len(crops)
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(12)
    shear = (torch.rand(count, generator=generator) * 2 - 1) * 0.2
    zoom = torch.exp((torch.rand(count, generator=generator) * 2 - 1) * 0.1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos / zoom, (-sin + shear * cos) / zoom
    theta[:, 1, 0], theta[:, 1, 1] = sin / zoom, cos / zoom
    grid = F.affine_grid(theta.to(crops.device), list(crops.shape), align_corners=False)
    warped = F.grid_sample(crops, grid, align_corners=False, padding_mode="zeros")
    choice = torch.rand(count, generator=generator).view(-1, 1, 1, 1).to(crops.device)
    ink = warped[:, :1]
    thicker = F.max_pool2d(ink, 3, stride=1, padding=1)
    thinner = -F.max_pool2d(-ink, 3, stride=1, padding=1)
    ink = torch.where(choice < 0.25, thicker, torch.where(choice < 0.5, thinner, ink))
    return torch.cat((ink, warped[:, 1:]), dim=1)


@torch.inference_mode()
def predict_crop_set(
    model: Namer, crop_set: CropSet, batch_size: int = 512, boxes: torch.Tensor | None = None
) -> torch.Tensor:
    """Class probabilities ``(K, C)`` for every box of ``crop_set`` (or ``boxes`` in their place) from a
    classifier or an ensemble."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(crop_set), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(crop_set)))
        ink, local = crop_set.images_of(rows)
        chosen = crop_set.boxes[rows] if boxes is None else boxes[rows]
        out.append(model.box_probabilities(ink.to(device), chosen.to(device), local.to(device)).cpu())
    return torch.cat(out) if out else torch.zeros(0, classifiers_of(model)[0].config.outputs)


def score_namer(model: Namer, tests: dict[str, CropSet]) -> dict[str, dict[str, Any]]:
    """:func:`accuracy_by_kind` of ``model`` on each named test set."""
    return {name: accuracy_by_kind(predict_crop_set(model, crops), crops) for name, crops in tests.items()}


def accuracy_by_kind(probs: torch.Tensor, crop_set: CropSet) -> dict[str, Any]:
    """Share named right, overall and per box kind (``mnist``, ``font``, ``other``, ...)."""
    right = (probs.argmax(dim=1) == crop_set.labels).numpy()
    kinds = np.asarray(crop_set.kinds)
    report: dict[str, Any] = {
        "boxes": len(right),
        "accuracy": round(float(right.mean()), 4) if len(right) else None,
    }
    report["by_kind"] = {
        kind: {"boxes": int((kinds == kind).sum()), "accuracy": round(float(right[kinds == kind].mean()), 4)}
        for kind in sorted(set(crop_set.kinds))
    }
    return report


def one_cycle(done: float, peak: float, warmup: float = 0.2) -> float:
    """Learning rate at fraction ``done`` of a run: linear warm-up from peak/25, then cosine to ~0."""
    if done < warmup:
        return peak * (0.04 + 0.96 * done / warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (done - warmup) / (1.0 - warmup))))


def train_namer(
    train_sets: Sequence[CropSet],
    val_set: CropSet,
    *,
    config: NamerConfig | None = None,
    epochs: int = 30,
    minutes: float | None = None,
    batch_size: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 5e-4,
    label_smoothing: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    device: torch.device | None = None,
    init: dict[str, torch.Tensor] | None = None,
    on_epoch: Callable[[CropClassifier, dict[str, Any]], None] | None = None,
) -> tuple[CropClassifier, dict[str, Any]]:
    """Train a crop classifier on ``train_sets`` (batches drawn from all of them by size) with AdamW and a
    one-cycle schedule over the run: by steps, or by wall time when ``minutes`` caps it.
    Trains on ``device`` (default: the CPU), with the images of every set moved there once; ``init`` (a
    state dict of the same ``config``) starts from trained weights instead of random ones (fine-tuning).
    ``on_epoch(model, history)`` runs after each epoch (e.g. to save it: a run stopped by a time limit
    keeps its last epoch). Returns the model (on the CPU) and a history (validation accuracy per epoch,
    images per second)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    config = config or NamerConfig()
    device = device or torch.device("cpu")
    train_sets = [crop_set.to(device) for crop_set in train_sets]
    val_set = val_set.to(device)
    model = CropClassifier(config)
    if init is not None:
        model.load_state_dict(init)
    model = model.to(device)
    owners = torch.cat([torch.full((len(s),), i, dtype=torch.int64) for i, s in enumerate(train_sets)])
    rows = torch.cat([torch.arange(len(s)) for s in train_sets])
    steps_per_epoch = max(1, len(rows) // batch_size)
    total_steps = epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    history: dict[str, Any] = {"val_accuracy": [], "epochs": 0}
    start = time.perf_counter()
    seen, step_count, done = 0, 0, 0.0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(rows), generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"namer epoch {epoch + 1}", disable=not progress)
        for step in bar:
            # progress through the run: by time when capped, else by steps; drives the one-cycle rate
            done = (time.perf_counter() - start) / (60 * minutes) if minutes else step_count / total_steps
            if done >= 1.0:
                break
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(done, lr)
            batch = order[step * batch_size : (step + 1) * batch_size]
            crops, labels = [], []
            for owner, crop_set in enumerate(train_sets):
                mine = rows[batch[owners[batch] == owner]]
                if len(mine) == 0:
                    continue
                jittered = jitter_boxes(crop_set.boxes[mine], generator)
                crops.append(crop_set.crops(mine, config, jittered))
                labels.append(crop_set.labels[mine])
            inputs = augment_crops(torch.cat(crops), generator)
            targets = torch.cat(labels).to(device)
            loss = F.cross_entropy(model(inputs), targets, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(inputs)
            step_count += 1
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        accuracy = accuracy_by_kind(predict_crop_set(model, val_set), val_set)["accuracy"]
        history["val_accuracy"].append(accuracy)
        history["epochs"] = epoch + 1
        if progress:
            print(f"epoch {epoch + 1}: validation accuracy {accuracy}", flush=True)
        if on_epoch is not None:
            elapsed = time.perf_counter() - start
            on_epoch(model, {**history, "seconds": round(elapsed, 1)})
        if done >= 1.0:
            break
    seconds = time.perf_counter() - start
    history.update(seconds=round(seconds, 1), images_per_second=round(seen / max(seconds, 1e-9), 1))
    return model.cpu().eval(), history


def save_namer(model: Namer, record: dict[str, Any], path: Path) -> Path:
    """Write the classifier's (or ensemble's) tensors and its JSON record (config or members' configs,
    class names, training, metrics)."""
    full = {
        "kind": "crop-classifier",
        **namer_config_record(model),
        "class_names": list(CLASS_NAMES),
        **{key: value for key, value in record.items() if key not in SHAPE_KEYS},
    }
    return save_tensors(model.state_dict(), full, Path(path), "crop-classifier")


def namer_crop_sets(
    data: Path | None,
    *,
    mnist_only: bool = False,
    use_mnist: bool = True,
    train_limit: int | None = None,
    workers: int | None = None,
    proposals: Sequence[Detector] = (),
    proposal_limit: int | None = None,
    extra_data: Sequence[Path] = (),
    found: Sequence[FoundBoxes] | None = None,
) -> tuple[list[CropSet], CropSet, dict[str, CropSet]]:
    """Training sets, validation set and test sets (by name) for the two uses of the recipe.

    ``mnist_only``: the MNIST originals the split rule allows (train + val) to train, the val part again to
    validate; otherwise the true boxes of ``data``'s train split (the first ``train_limit`` canvases), plus
    the MNIST train part when ``use_mnist``, validated on the val split's boxes and tested on the test
    split's (when it has canvases); the train splits of the ``extra_data`` roots are learnt too (e.g.
    canvases made with another generator setting). With ``proposals`` detectors, the boxes each finds in
    the first ``proposal_limit`` training canvases of every root are trained on too
    (:func:`proposal_crop_set`: a rejecting classifier learns its reject label there; several detectors,
    e.g. an older one and one that already rejects, give the easy and the remaining hard non-objects), and
    those the last finds in the val split are a test set; ``found`` (:func:`found_box_sets`, saved earlier)
    gives the same without finding them again. The reserved MNIST originals are a test set either way."""
    if mnist_only:
        train_sets = [mnist_crop_set("train"), mnist_crop_set("val")]
        return train_sets, train_sets[1], namer_test_sets(None)
    if data is None:
        raise ValueError("training on canvases needs a dataset")
    train_sets = [canvas_crop_set(data, "train", train_limit, workers=workers)]
    train_sets += [canvas_crop_set(root, "train", workers=workers) for root in extra_data]
    if use_mnist:
        train_sets.append(mnist_crop_set("train"))
    tests = namer_test_sets(data, workers=workers)
    roots = [data, *extra_data]
    if proposals:
        found_sets = found_box_sets(proposals, data, extra_data, proposal_limit)
        found_crops = [found.crop_set(ink) for found, ink in found_sets]
    elif found is not None:
        if len(found) != len(roots) + 1:
            raise ValueError(
                f"the found boxes are {len(found)} sets: one per dataset ({len(roots)}) and the val split's "
                "are needed (namer find-boxes with the same --data and --extra-data)"
            )
        found_crops = [
            found_crop_set(s, root, workers) for s, root in zip(found, [*roots, data], strict=True)
        ]
    else:
        found_crops = []
    if found_crops:
        train_sets += found_crops[:-1]
        tests["val_found_boxes"] = found_crops[-1]
    return train_sets, canvas_crop_set(data, "val", workers=workers), tests


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


def namer_test_sets(
    data: Path | None, splits: Sequence[str] = ("test",), workers: int | None = None
) -> dict[str, CropSet]:
    """What a namer is scored on: the reserved MNIST originals, and the true boxes of ``data``'s ``splits``
    where it has them."""
    tests: dict[str, CropSet] = {"mnist_reserved_originals": mnist_crop_set("test")}
    for split in splits:
        if data is not None and load_split(Path(data), split).samples:
            tests[f"{split}_true_boxes"] = canvas_crop_set(data, split, workers=workers)
    return tests


def combine_namers(paths: Sequence[Path]) -> tuple[NamerEnsemble, dict[str, Any]]:
    """The classifiers in ``paths`` (single ones or ensembles) as one ensemble, and a record of how each
    was trained (``training.members``)."""
    members: list[CropClassifier] = []
    trainings: list[dict[str, Any]] = []
    for path in paths:
        namer, record = load_namer(path)
        training = record.get("training", {})
        members.extend(classifiers_of(namer))
        if isinstance(namer, NamerEnsemble):
            trainings.extend(training.get("members", []))
        else:
            trainings.append({"file": Path(path).name, **training})
    return NamerEnsemble(members), {"training": {"members": trainings}}

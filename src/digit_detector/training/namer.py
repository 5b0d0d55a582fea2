"""Training the second stage (:mod:`digit_detector.naming`): the crop classifier that names detected boxes.

Crops come from the true boxes of a dataset in our YOLO layout (:mod:`~digit_detector.training.crop_sets`,
through the same path as inference), optionally from the MNIST originals the split rule allows and from the
boxes a detector finds (:mod:`~digit_detector.training.found_boxes`, for a classifier that rejects).
Each batch is augmented on the fly: the box is jittered as a detector's box would be (shift, scale), the
crop is rotated, sheared and scaled, and the stroke is thickened or thinned by a pixel.

    python -m digit_detector namer train --data data/synth --minutes 14 \
        --out weights/yolov3-tiny.namer.safetensors
    python -m digit_detector namer train --mnist-only --minutes 12 --out runs/namer-mnist/namer.safetensors
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from digit_detector.classes import CLASS_NAMES
from digit_detector.data.yolo_format import load_split
from digit_detector.naming import (
    CropClassifier,
    Namer,
    NamerConfig,
    NamerEnsemble,
    broadened,
    classifiers_of,
    load_namer,
    namer_config_record,
    narrowed,
    widened,
)
from digit_detector.training.crop_sets import CropSet, canvas_crop_set, mnist_crop_set
from digit_detector.training.found_boxes import FoundBoxes, found_box_sets, found_crop_set
from digit_detector.weights import WeightsError, save_tensors

if TYPE_CHECKING:
    from digit_detector.detector import Detector

SHAPE_KEYS = ("kind", "config", "members", "class_names")  # record keys save_namer writes from the model


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


#: Softening of both distributions in :func:`distillation_loss` (Hinton et al. 2015; Li and Hoiem's
#: learning without forgetting uses 2 as well).
DISTILL_TEMPERATURE = 2.0


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL divergence from the teacher's softened class distribution to the student's, scaled by T^2 so that
    its gradients keep their size at any temperature T (:data:`DISTILL_TEMPERATURE`)."""
    temperature = DISTILL_TEMPERATURE
    student = F.log_softmax(logits / temperature, dim=1)
    teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature**2


def load_classifier(path: Path, role: str) -> tuple[CropClassifier, dict[str, Any]]:
    """The one crop classifier in ``path`` and its record; ValueError (saying what it was to ``role``, "start
    from" or "learn from") for weights that cannot be read or hold an ensemble."""
    try:
        classifier, record = load_namer(path)
    except (OSError, WeightsError) as error:
        raise ValueError(f"cannot {role} {path}: {error}") from None
    if not isinstance(classifier, CropClassifier):
        raise ValueError(f"{path} is an ensemble; {role} one of its classifiers")
    return classifier, record


@dataclass(frozen=True)
class NamerStart:
    """Where ``namer train --init`` starts: the classifier, the record of its weights, and the classifier its
    distillation learns from when that is not the start itself (the whole one a narrowed start was cut
    from)."""

    classifier: CropClassifier
    record: dict[str, Any]
    teacher: CropClassifier | None = None


def namer_start(init: Path, wanted: NamerConfig, widths: tuple[int, int, int] | None = None) -> NamerStart:
    """The classifier in ``init``, given the inputs and the reject output that ``wanted`` asks for and it
    lacks (:func:`~digit_detector.naming.widened`), and cut down to ``widths`` when they are narrower than
    its own (:func:`~digit_detector.naming.narrowed`) or grown to them when they are wider
    (:func:`~digit_detector.naming.broadened`); the start as it was is then the teacher.
    ValueError, saying why, when it cannot be: unreadable weights, an ensemble, another context margin
    than the one it learnt, widths some narrower and some wider than its own."""
    start, record = load_classifier(init, "start from")
    kept_margin = start.config.context_margin
    if kept_margin and wanted.context_margin and wanted.context_margin != kept_margin:
        raise ValueError(
            f"{init} already sees the ink around its box at margin {kept_margin:g}; "
            f"--context-margin {wanted.context_margin:g} would change what it learnt: leave it out"
        )
    box_channel = wanted.box_channel and not start.config.box_channel
    rejects = wanted.rejects and not start.config.rejects
    context_margin = None if kept_margin else wanted.context_margin
    edge_channel = wanted.edge_channel and not start.config.edge_channel
    if box_channel or rejects or context_margin or edge_channel:
        start = widened(
            start,
            box_channel=box_channel,
            rejects=rejects,
            context_margin=context_margin,
            edge_channel=edge_channel,
        )
    if widths is None or widths == start.config.widths:
        return NamerStart(start, record)
    try:
        if all(new >= old for new, old in zip(widths, start.config.widths, strict=True)):
            return NamerStart(broadened(start, widths), record, teacher=start)
        return NamerStart(narrowed(start, widths), record, teacher=start)
    except ValueError as error:
        raise ValueError(f"--widths: {error}") from None


def load_teacher(path: Path, student: NamerConfig) -> CropClassifier:
    """The classifier in ``path`` as the teacher of a ``student`` classifier: it must see the crops the
    student sees (the same channels, crop size and margins) and give the same outputs; ValueError else."""
    teacher, _ = load_classifier(path, "learn from")
    sees = ("input_channels", "crop_size", "margin", "context_margin", "outputs", "num_classes")
    differ = [name for name in sees if getattr(teacher.config, name) != getattr(student, name)]
    if differ:
        said = "; ".join(
            f"its {n} is {getattr(teacher.config, n)}, the namer's {getattr(student, n)}" for n in differ
        )
        raise ValueError(f"{path} cannot teach this namer, it cuts other crops: {said}")
    return teacher


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
    distill: float = 0.0,
    teacher: CropClassifier | None = None,
    on_epoch: Callable[[CropClassifier, dict[str, Any]], None] | None = None,
    autocast: torch.dtype | None = None,
) -> tuple[CropClassifier, dict[str, Any]]:
    """Train a crop classifier on ``train_sets`` (batches drawn from all of them by size) with AdamW and a
    one-cycle schedule over the run: by steps, or by wall time when ``minutes`` caps it.
    Trains on ``device`` (default: the CPU), with the images of every set moved there once; ``init`` (a
    state dict of the same ``config``) starts from trained weights instead of random ones (fine-tuning).
    ``distill`` > 0 (with ``init``) adds that weight of :func:`distillation_loss` towards the frozen start
    on every crop, so a fine-tune keeps what the start does well (learning without forgetting); with
    ``teacher`` (a trained classifier of the same inputs and outputs, e.g. the wider one a
    :func:`~digit_detector.naming.narrowed` start was cut from) towards that classifier instead.
    ``on_epoch(model, history)`` runs after each epoch (e.g. to save it: a run stopped by a time limit
    keeps its last epoch). ``autocast`` (``torch.bfloat16``) runs the forward passes in that dtype under
    ``torch.autocast``, the weights and the loss staying float32 (on a CPU with AMX the classifier's step
    takes 2.5x fewer seconds: :func:`~digit_detector.devices.resolve_precision`). Returns the model (on
    the CPU) and a history (validation accuracy per epoch, images per second)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    config = config or NamerConfig()
    device = device or torch.device("cpu")
    train_sets = [crop_set.to(device) for crop_set in train_sets]
    val_set = val_set.to(device)
    model = CropClassifier(config)
    if init is not None:
        model.load_state_dict(init)
    if distill > 0 and teacher is None:
        if init is None:
            raise ValueError("distillation needs a start or a teacher: give init or teacher")
        teacher = CropClassifier(config)
        teacher.load_state_dict(init)
    frozen = None  # the teacher's copy on the device: the caller's classifier is left as it was
    if distill > 0 and teacher is not None:
        frozen = copy.deepcopy(teacher).to(device).eval().requires_grad_(False)
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
            with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
                logits = model(inputs).float()
                if frozen is not None:
                    with torch.no_grad():
                        taught = frozen(inputs).float()
            loss = F.cross_entropy(logits, targets, label_smoothing=label_smoothing)
            if frozen is not None:
                loss = loss + distill * distillation_loss(logits, taught)
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
    (:mod:`~digit_detector.training.found_boxes`: a rejecting classifier learns its reject label there;
    several detectors, e.g. an older one and one that already rejects, give the easy and the remaining hard
    non-objects), and those the last finds in the val split are a test set; ``found`` (``found_box_sets``,
    saved earlier) gives the same without finding them again. The reserved MNIST originals are a test set
    either way."""
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

"""The label audit's crop classifiers: box crops, the CNN and ViT, and out-of-fold training.

Its settings are a plain dataclass (``AuditConfig``) set from command-line options, not Hydra configs like the
detector's: two small classifiers trained briefly per fold, with a handful of options and nothing to compose.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn
from tqdm import tqdm

from digit_detector.classes import NUM_CLASSES
from digit_detector.data.yolo_format import Sample
from digit_detector.io import read_gray

MODELS = ("cnn", "vit")
DEFAULT_EPOCHS = {"cnn": 12, "vit": 30}
DEFAULT_LR = {"cnn": 3e-3, "vit": 1e-3}
MARGIN = 0.1  # of the box side, plus MARGIN_PX, on every side of a crop
MARGIN_PX = 2


class AuditError(ValueError):
    """The dataset or an actions CSV cannot be used; the message says why (and where)."""


# --------------------------------------------------------------------------- crops


def cut_crop(gray: NDArray[np.uint8], box: Sequence[float], size: int) -> NDArray[np.uint8]:
    """The box with its margin, padded white outside the image, fitted (aspect kept) on a white square."""
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = MARGIN * (x2 - x1) + MARGIN_PX, MARGIN * (y2 - y1) + MARGIN_PX
    left, top = math.floor(x1 - mx), math.floor(y1 - my)
    right, bottom = math.ceil(x2 + mx), math.ceil(y2 + my)
    region = np.full((bottom - top, right - left), 255, dtype=np.uint8)
    height, width = gray.shape
    sx1, sy1, sx2, sy2 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if sx2 > sx1 and sy2 > sy1:
        region[sy1 - top : sy2 - top, sx1 - left : sx2 - left] = gray[sy1:sy2, sx1:sx2]
    scale = size / max(region.shape)
    new_w = min(size, max(1, round(region.shape[1] * scale)))
    new_h = min(size, max(1, round(region.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(region, (new_w, new_h), interpolation=interpolation)
    square = np.full((size, size), 255, dtype=np.uint8)
    ox, oy = (size - new_w) // 2, (size - new_h) // 2
    square[oy : oy + new_h, ox : ox + new_w] = resized
    return square


@dataclass
class BoxRef:
    """One labelled box of the split: which image, where, and its given class."""

    image: str  # path relative to the dataset root (posix), as written in suspects.csv
    image_path: Path
    box: tuple[float, float, float, float]
    given: int


def relative_image(root: Path, image_path: Path) -> str:
    try:
        return image_path.relative_to(root).as_posix()
    except ValueError:
        return image_path.as_posix()


def extract_crops(
    root: Path, samples: Sequence[Sample], size: int, *, progress: bool = False
) -> tuple[NDArray[np.uint8], list[BoxRef]]:
    """All labelled boxes as (N, size, size) uint8 crops (ink dark on white) and their references."""
    crops: list[NDArray[np.uint8]] = []
    refs: list[BoxRef] = []
    for sample in tqdm(samples, desc="crops", unit="image", disable=not progress):
        if len(sample.class_ids) == 0:
            continue
        gray = read_gray(sample.image_path)
        for class_id, box in zip(sample.class_ids.tolist(), sample.boxes_xyxy.tolist(), strict=True):
            crops.append(cut_crop(gray, box, size))
            x1, y1, x2, y2 = box
            refs.append(
                BoxRef(relative_image(root, sample.image_path), sample.image_path, (x1, y1, x2, y2), class_id)
            )
    stacked = np.stack(crops) if crops else np.zeros((0, size, size), dtype=np.uint8)
    return stacked, refs


# --------------------------------------------------------------------------- models


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class CropCNN(nn.Module):
    """Five 3x3 conv layers (two max-pools), 2x2 average pool and a linear classifier."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16) -> None:
        super().__init__()
        c = width
        self.features = nn.Sequential(
            _conv_block(1, c),
            _conv_block(c, c),
            nn.MaxPool2d(2),
            _conv_block(c, 2 * c),
            _conv_block(2 * c, 2 * c),
            nn.MaxPool2d(2),
            _conv_block(2 * c, 4 * c),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(16 * c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x))
        return logits


def vit_patch_size(crop: int) -> int:
    """The largest patch side of 4, 3 or 2 that divides the crop side."""
    for patch in (4, 3, 2):
        if crop % patch == 0:
            return patch
    raise AuditError(f"--model vit needs a crop size divisible by 2, 3 or 4, got {crop}")


def make_vit(crop: int, num_classes: int = NUM_CLASSES) -> nn.Module:
    """A tiny torchvision VisionTransformer (4 layers, 4 heads, width 64) on one gray channel."""
    from torchvision.models.vision_transformer import VisionTransformer

    patch = vit_patch_size(crop)
    hidden = 64
    model = VisionTransformer(
        image_size=crop,
        patch_size=patch,
        num_layers=4,
        num_heads=4,
        hidden_dim=hidden,
        mlp_dim=2 * hidden,
        num_classes=num_classes,
    )
    model.conv_proj = nn.Conv2d(1, hidden, kernel_size=patch, stride=patch)
    return model


def build_classifier(name: str, crop: int) -> nn.Module:
    if name == "cnn":
        return CropCNN()
    if name == "vit":
        return make_vit(crop)
    raise AuditError(f"unknown model {name!r}; choose one of {MODELS}")


# --------------------------------------------------------------------------- cross-validation


@dataclass
class AuditConfig:
    """Settings of one audit run (recorded in summary.json)."""

    split: str = "train"
    model: str = "cnn"
    folds: int = 5
    epochs: int | None = None  # None: DEFAULT_EPOCHS[model]
    crop: int = 32
    batch_size: int = 128
    lr: float | None = None  # None: DEFAULT_LR[model]
    seed: int = 0
    augment: bool = True
    device: str = "cpu"  # results are repeatable on the CPU; CUDA kernels may differ run to run

    @property
    def resolved_epochs(self) -> int:
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS[self.model]

    @property
    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.model]


def stratified_folds(labels: NDArray[np.int64], folds: int, seed: int) -> NDArray[np.int64]:
    """Fold index per item: each class shuffled and dealt round-robin, so folds share class proportions."""
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for class_id in np.unique(labels):
        members = np.flatnonzero(labels == class_id)
        members = members[rng.permutation(len(members))]
        assignment[members] = (offset + np.arange(len(members))) % folds
        offset += len(members)
    return assignment


def to_tensor(crops: NDArray[np.uint8]) -> torch.Tensor:
    """(N, S, S) uint8, ink dark -> (N, 1, S, S) float, ink 1 and paper 0."""
    return torch.from_numpy((255.0 - crops.astype(np.float32)) / 255.0).unsqueeze(1)


def random_affine(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random rotation (±10°), scale (0.9-1.1), shear and shift (±6 %) of a batch of crops."""
    n = batch.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = uniform(-math.pi / 18, math.pi / 18)
    scale = uniform(0.9, 1.1)
    shear = uniform(-0.1, 0.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin + shear, uniform(-0.12, 0.12)], dim=1),
            torch.stack([sin, cos, uniform(-0.12, 0.12)], dim=1),
        ],
        dim=1,
    )
    sampling = F.affine_grid(theta.to(batch.device), list(batch.shape), align_corners=False)
    return F.grid_sample(batch, sampling, mode="bilinear", padding_mode="zeros", align_corners=False)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AuditConfig,
    generator: torch.Generator,
    on_epoch: Callable[[int, float], None] | None = None,
) -> nn.Module:
    """AdamW with warm-up and cosine decay, cross-entropy; returns the trained model in eval mode."""
    epochs, batch_size = config.resolved_epochs, config.batch_size
    steps_per_epoch = max(1, math.ceil(len(x) / batch_size))
    weight_decay = 0.05 if config.model == "vit" else 1e-4
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.resolved_lr, weight_decay=weight_decay)
    total_steps = epochs * steps_per_epoch
    warmup = max(1, round(0.2 * total_steps))

    def factor(step: int) -> float:  # linear warm-up over 20 % of the steps, then cosine decay
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            batch = x[index].to(config.device)
            if config.augment:
                batch = random_affine(batch, generator)
            loss = F.cross_entropy(model(batch), y[index].to(config.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        if on_epoch is not None:
            on_epoch(epoch, total / max(len(x), 1))
    return model.eval()


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: torch.Tensor, batch_size: int = 512, device: str = "cpu"
) -> NDArray[np.float64]:
    """Softmax class probabilities, (N, C)."""
    model.eval()
    parts = [
        torch.softmax(model(x[i : i + batch_size].to(device)), dim=1).cpu()
        for i in range(0, len(x), batch_size)
    ]
    if not parts:
        return np.zeros((0, NUM_CLASSES))
    return torch.cat(parts).double().numpy()


class OutOfFoldRanking:
    """What follows from out-of-fold ``probabilities`` ``(N, C)`` and the labels they were given (``given``,
    ``(N,)``): the predicted class, how doubtful each label is, and the order to look at them in."""

    probabilities: NDArray[np.float64]

    @property
    def given(self) -> NDArray[np.int64]:
        raise NotImplementedError

    @property
    def predicted(self) -> NDArray[np.int64]:
        return np.asarray(self.probabilities.argmax(axis=1), dtype=np.int64)

    @property
    def scores(self) -> NDArray[np.float64]:
        """1 - out-of-fold probability of the given label: high means the label is likely wrong."""
        given = self.given
        return np.asarray(1.0 - self.probabilities[np.arange(len(given)), given], dtype=np.float64)

    @property
    def order(self) -> NDArray[np.int64]:
        """Indices, most suspect first (ties keep the input order)."""
        return np.asarray(np.argsort(-self.scores, kind="stable"), dtype=np.int64)

    @property
    def accuracy(self) -> float:
        given = self.given
        return float((self.predicted == given).mean()) if len(given) else float("nan")


def out_of_fold_probabilities(
    crops: NDArray[np.uint8], labels: NDArray[np.int64], config: AuditConfig, *, progress: bool = True
) -> NDArray[np.float64]:
    """Each crop's class probabilities from the model trained on the other K-1 folds."""
    if config.folds < 2:
        raise AuditError(f"--folds must be at least 2, got {config.folds}")
    if len(labels) < config.folds:
        raise AuditError(f"{len(labels)} boxes are too few for {config.folds} folds")
    x, y = to_tensor(crops), torch.from_numpy(labels)
    assignment = stratified_folds(labels, config.folds, config.seed)
    probabilities = np.zeros((len(labels), NUM_CLASSES))
    epochs = config.resolved_epochs
    with tqdm(total=config.folds * epochs, desc=f"{config.model} folds", disable=not progress) as bar:
        for fold in range(config.folds):
            held_out = np.flatnonzero(assignment == fold)
            train = torch.from_numpy(np.flatnonzero(assignment != fold))
            torch.manual_seed(config.seed * 1000 + fold)
            generator = torch.Generator().manual_seed(config.seed * 1000 + fold)
            model = build_classifier(config.model, config.crop).to(config.device)

            def on_epoch(epoch: int, loss: float, fold: int = fold) -> None:
                bar.set_postfix(fold=f"{fold + 1}/{config.folds}", epoch=epoch + 1, loss=f"{loss:.3f}")
                bar.update(1)

            train_classifier(model, x[train], y[train], config, generator, on_epoch)
            probabilities[held_out] = predict_proba(
                model, x[torch.from_numpy(held_out)], device=config.device
            )
    return probabilities

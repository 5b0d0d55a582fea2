"""Labelled boxes in ink images (:class:`CropSet`): what the crop classifier (:mod:`digit_detector.naming`)
learns from and is scored on. The canvases go through the same path as inference
(:func:`~digit_detector.preprocess.preprocess` to the 192x192 input); the crops are cut by
:func:`~digit_detector.naming.classifier_input`. The true boxes of a dataset split
(:func:`canvas_crop_set`) and the MNIST originals the split rule allows (:func:`mnist_crop_set`); the boxes
a detector finds are :mod:`digit_detector.training.found_boxes`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from digit_detector.classes import CLASS_NAMES, is_digit
from digit_detector.data import sources
from digit_detector.data.yolo_format import boxed_objects, load_split
from digit_detector.io import read_image
from digit_detector.naming import NamerConfig, classifier_input
from digit_detector.parallel import default_workers, ordered_map
from digit_detector.preprocess import Letterbox, preprocess


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


def canvas_ink(canvas: Path | Image.Image) -> tuple[NDArray[np.uint8], Letterbox]:
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
    read = ordered_map(canvas_ink, paths, default_workers(workers), desc=f"crops {split}", progress=progress)
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

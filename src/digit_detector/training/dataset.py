"""Training data: a split in the project's layout, preprocessed once by the shared path and kept in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch.utils.data import Dataset

from digit_detector.data.yolo_format import Problem, Sample, load_split
from digit_detector.parallel import default_workers, ordered_map
from digit_detector.preprocess import letterbox, to_rgb, to_tensor
from digit_detector.training.targets import build_targets


@dataclass
class DetectionBatch:
    images: torch.Tensor  # (B, 3, S, S)
    targets: list[torch.Tensor]  # per scale (B, 3, G, G, 6)
    boxes: list[torch.Tensor]  # per image (n, 4) xyxy in model-input pixels
    class_ids: list[torch.Tensor]  # per image (n,)


PackedArrays = tuple[tuple[int, ...], NDArray[np.int64], NDArray[np.float32]]


@dataclass(frozen=True)
class PackedTarget:
    """One scale's target tensor as its non-zero entries (100x faster to restore than torch sparse COO)."""

    shape: tuple[int, ...]
    flat_indices: torch.Tensor  # int64 positions in the flattened tensor
    values: torch.Tensor

    @classmethod
    def pack(cls, dense: torch.Tensor) -> PackedTarget:
        flat = dense.reshape(-1)
        indices = flat.nonzero().squeeze(1)
        return cls(tuple(dense.shape), indices, flat[indices].clone())

    def unpack(self) -> torch.Tensor:
        dense = torch.zeros(self.shape)
        dense.view(-1)[self.flat_indices] = self.values
        return dense


@dataclass(frozen=True)
class _SamplePreparer:
    """One canvas letterboxed to the model input, its boxes in input pixels and its packed targets as
    arrays (picklable both ways, so that a pool of processes can prepare the canvases)."""

    input_size: int
    anchors: torch.Tensor
    grid_sizes: tuple[int, ...]
    ignore_threshold: float
    positive_threshold: float | None
    xy_scale: float

    def __call__(self, sample: Sample) -> tuple[NDArray[np.uint8], NDArray[np.float32], list[PackedArrays]]:
        with Image.open(sample.image_path) as image:
            square, transform = letterbox(to_rgb(image), self.input_size)
        boxes = transform.to_input(sample.boxes_xyxy).astype(np.float32)
        targets = build_targets(
            torch.from_numpy(boxes).reshape(-1, 4),
            torch.from_numpy(sample.class_ids),
            self.anchors,
            self.grid_sizes,
            self.input_size,
            self.ignore_threshold,
            self.positive_threshold,
            self.xy_scale,
        )
        # plain arrays cross the process boundary (torch tensors would each hold a shared-memory handle)
        packed = [PackedTarget.pack(scale) for scale in targets]
        return square, boxes, [(p.shape, p.flat_indices.numpy(), p.values.numpy()) for p in packed]


class DetectionDataset(Dataset[tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor]]):
    """Images letterboxed to the model input (uint8, in memory) with their boxes in input pixels."""

    def __init__(
        self,
        root: Path,
        split: str,
        anchors: torch.Tensor,
        grid_sizes: tuple[int, ...],
        input_size: int = 192,
        limit: int | None = None,
        progress: bool = True,
        ignore_threshold: float = 0.5,
        positive_threshold: float | None = None,
        xy_scale: float = 1.0,
        workers: int | None = None,
    ) -> None:
        contents = load_split(Path(root), split)
        if contents.problems:
            shown = "; ".join(f"{p.path.name}: {p.reason}" for p in contents.problems[:5])
            print(f"warning: skipped {len(contents.problems)} unusable files in {root}/{split} ({shown})")
        samples = contents.samples[:limit] if limit else contents.samples
        if not samples:
            why = f" ({contents.problems[0].reason})" if contents.problems else ""
            raise ValueError(f"no labelled images in {Path(root) / 'images' / split}{why}")
        self.problems: list[Problem] = contents.problems
        prepare = _SamplePreparer(
            input_size, anchors, grid_sizes, ignore_threshold, positive_threshold, xy_scale
        )
        self.images = np.empty((len(samples), input_size, input_size, 3), dtype=np.uint8)
        self.boxes: list[NDArray[np.float32]] = []
        self.class_ids: list[NDArray[np.int64]] = []
        # Targets are fixed per image (no online augmentation), so they are built once here rather than in
        # every epoch's loader (on 2 cores that was a fifth of the training step). They are kept packed: a
        # dense set is 54 kB per image (5 GB for 100k canvases), almost all zeros.
        self.targets: list[list[PackedTarget]] = []
        prepared = ordered_map(
            prepare, samples, default_workers(workers), desc=f"loading {split}", progress=progress
        )
        for index, (image, boxes, targets) in enumerate(prepared):
            self.images[index] = image
            self.boxes.append(boxes)
            self.class_ids.append(samples[index].class_ids)
            self.targets.append(
                [
                    PackedTarget(shape, torch.from_numpy(at), torch.from_numpy(values))
                    for shape, at, values in targets
                ]
            )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor]:
        boxes = torch.from_numpy(self.boxes[index]).reshape(-1, 4)
        class_ids = torch.from_numpy(self.class_ids[index])
        targets = [scale.unpack() for scale in self.targets[index]]
        return to_tensor(self.images[index]), targets, boxes, class_ids


def collate(
    items: list[tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, torch.Tensor]],
) -> DetectionBatch:
    images, targets, boxes, class_ids = zip(*items, strict=True)
    return DetectionBatch(
        images=torch.stack(images),
        targets=[torch.stack(scale) for scale in zip(*targets, strict=True)],
        boxes=list(boxes),
        class_ids=list(class_ids),
    )

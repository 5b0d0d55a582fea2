"""Objects the detector is never trained to find: their every target slot is taken by a neighbour.

YOLOv3's targets give each object the anchor slots (scale, anchor, grid cell) its shape matches; two objects
whose centres fall in one cell and whose shapes match the same anchors write the same slots, and the one
written last wins. The one that loses every slot is trained as nothing at all (and where its slot holds the
neighbour, the detector learns to answer that slot with the neighbour). Touching digits and a thin `1`
beside a digit are such pairs. This counts them on a split, with the shipped assignment rule
(`training.targets.build_targets`, the loss config's thresholds) or another one.

    python experiments/target_collisions.py --data data/synth --split val
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf
from PIL import Image

from digit_detector.classes import CLASS_NAMES
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.models.config import STRIDES
from digit_detector.preprocess import letterbox, to_rgb
from digit_detector.training.targets import build_targets
from digit_detector.weights import DEFAULT_WEIGHTS, read_metadata

LOSS_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "loss" / "yolo.yaml"


@dataclass(frozen=True)
class Assignment:
    """The target rule's settings (as in the loss config)."""

    ignore_threshold: float
    positive_threshold: float | None
    xy_scale: float


def input_boxes(sample: Sample, input_size: int) -> torch.Tensor:
    """The canvas's true boxes in model-input pixels, letterboxed as training prepares them."""
    with Image.open(sample.image_path) as image:
        _, transform = letterbox(to_rgb(image), input_size)
    return torch.from_numpy(transform.to_input(sample.boxes_xyxy)).float().reshape(-1, 4)


def starved_objects(
    boxes: torch.Tensor, anchors: torch.Tensor, input_size: int, rule: Assignment
) -> list[int]:
    """Indices of the objects of one canvas (``boxes`` in model-input pixels) left with no positive slot.

    Each object's index is written as its class, so a slot's class says which object holds it.
    """
    grid_sizes = tuple(input_size // stride for stride in STRIDES)
    indices = torch.arange(len(boxes))
    targets = build_targets(
        boxes,
        indices,
        anchors,
        grid_sizes,
        input_size,
        rule.ignore_threshold,
        rule.positive_threshold,
        rule.xy_scale,
    )
    held: set[int] = set()
    for target in targets:
        positive = target[..., 0] == 1.0
        held.update(int(i) for i in target[..., 5][positive].round().long())
    return [i for i in range(len(boxes)) if i not in held]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("data/synth"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="whose anchors and input size")
    args = parser.parse_args()

    model = read_metadata(args.weights).model
    anchors = torch.tensor(model.anchors, dtype=torch.float32)
    input_size = model.input_size
    loss = OmegaConf.load(LOSS_CONFIG)
    rules = {
        "shipped (best anchor + shape IoU > 0.5)": Assignment(
            float(loss.ignore_threshold), loss.positive_threshold, model.xy_scale
        ),
        "best anchor only (YOLOv3)": Assignment(float(loss.ignore_threshold), None, 1.0),
        "with neighbour cells (xy_scale 2)": Assignment(
            float(loss.ignore_threshold), loss.positive_threshold, 2.0
        ),
    }
    samples = load_split(args.data, args.split).samples[: args.limit]
    boxes = [input_boxes(sample, input_size) for sample in samples]
    total = sum(len(b) for b in boxes)
    for name, rule in rules.items():
        starved: Counter[str] = Counter()
        canvases_hit = 0
        for sample, canvas_boxes in zip(samples, boxes, strict=True):
            lost = starved_objects(canvas_boxes, anchors, input_size, rule)
            canvases_hit += bool(lost)
            starved.update(CLASS_NAMES[int(sample.class_ids[i])] for i in lost)
        lost_total = sum(starved.values())
        print(
            f"{name}: {lost_total} of {total} objects ({100 * lost_total / max(total, 1):.2f} %) hold no "
            f"positive slot, on {canvases_hit} of {len(samples)} canvases; by class: "
            + ", ".join(f"{label} {starved[label]}" for label in CLASS_NAMES if starved[label])
        )


if __name__ == "__main__":
    main()

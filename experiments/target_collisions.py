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

from digit_detector.classes import CLASS_NAMES
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.models.config import STRIDES
from digit_detector.training.targets import build_targets
from digit_detector.weights import DEFAULT_WEIGHTS, read_metadata

LOSS_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "loss" / "yolo.yaml"


@dataclass(frozen=True)
class Assignment:
    """The target rule's settings (as in the loss config)."""

    ignore_threshold: float
    positive_threshold: float | None
    xy_scale: float


def starved_objects(
    sample: Sample, anchors: torch.Tensor, input_size: int, rule: Assignment
) -> tuple[int, list[int]]:
    """(objects, indices of the objects left with no positive slot) for one canvas.

    Each object's index is written as its class, so a slot's class says which object holds it.
    """
    width, height = sample.image_size
    scale = input_size / max(width, height)
    boxes = torch.from_numpy(sample.boxes_xyxy * scale).float().reshape(-1, 4)
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
    return len(boxes), [i for i in range(len(boxes)) if i not in held]


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
    for name, rule in rules.items():
        total = 0
        starved: Counter[str] = Counter()
        canvases_hit = 0
        for sample in samples:
            count, lost = starved_objects(sample, anchors, input_size, rule)
            total += count
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

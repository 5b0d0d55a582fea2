"""Are a new detector's objectness scores what stops the reading rules? Map them onto the shipped detector's
scale and read again.

    .venv/bin/python experiments/objectness_recalibration.py --new runs/cand-iou-t35/yolov3-tiny.safetensors \
        --data data/fitc --split train --limit 2000 --out runs/cand-iou-recal
    .venv/bin/python experiments/paired_reading.py --data data/synth:val data/val2:val \
        --weights weights/yolov3-tiny.safetensors runs/cand-iou-recal/yolov3-tiny.safetensors

The reading rules (score threshold, containment's score comparisons, the keep rule's network, the lone-digit
and best-guess floors) were all fitted to the shipped detector's objectness. A detector trained towards
IoU-aware objectness (``loss.objectness_iou``) ranks its boxes better but gives lower scores, and reads
fewer numbers with those rules. Both detectors share the architecture and one was fine-tuned from the other,
so the same head cell and anchor answer for the same place: for each of the nine (head, anchor) objectness
outputs, an affine map ``logit_old ~ a * logit_new + b`` is fitted by least squares over the cells where
either detector gives at least ``--floor``. The map is then baked into the new weights (the objectness row
of the head's last 1x1 convolution scaled by ``a``, its bias ``a * bias + b``): the ranking of the new
detector with the scale the rules expect, and nothing else changes. ``--out`` gets the new weights and a copy
of the baseline's record and namer files (the baseline's rules), with ``version`` marked.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.data.yolo_format import load_split
from digit_detector.io import read_image
from digit_detector.models import YoloModel
from digit_detector.models.layers import NUM_BOX_ATTRS
from digit_detector.preprocess import preprocess
from digit_detector.weights import load_weights, metadata_path, save_tensors

HEADS = ("head32", "head16", "head8")  # the order of the model's outputs


def objectness_logits(model: YoloModel, images: list[Path]) -> list[np.ndarray]:
    """Per head: objectness logits ``(images, anchors, rows, cols)`` on ``images``."""
    per_head: list[list[np.ndarray]] = [[] for _ in HEADS]
    with torch.inference_mode():
        for path in tqdm(images, unit="img", leave=False):
            tensor, _ = preprocess(read_image(path))
            for head, output in enumerate(model(tensor)):
                per_head[head].append(output[..., 0].numpy())
    return [np.concatenate(outputs) for outputs in per_head]


def fit_maps(new: list[np.ndarray], old: list[np.ndarray], floor: float, how: str) -> np.ndarray:
    """``(heads, anchors, 2)``: ``a, b`` of ``logit_old ~ a * logit_new + b`` per head and anchor, fitted on
    the cells where either model gives objectness of at least ``floor``: by least squares (``"ols"``, which
    shrinks the slope by the correlation) or so that mean and spread match (``"spread"``)."""
    floor_logit = float(np.log(floor / (1 - floor)))
    maps = np.zeros((len(new), new[0].shape[1], 2))
    for head, (new_logits, old_logits) in enumerate(zip(new, old, strict=True)):
        for anchor in range(new_logits.shape[1]):
            x = new_logits[:, anchor].ravel()
            y = old_logits[:, anchor].ravel()
            used = (x >= floor_logit) | (y >= floor_logit)
            if used.sum() < 20:
                maps[head, anchor] = (1.0, 0.0)
                continue
            if how == "ols":
                a, b = np.polyfit(x[used], y[used], 1)
            else:
                a = y[used].std() / x[used].std()
                b = y[used].mean() - a * x[used].mean()
            residual = y[used] - (a * x[used] + b)
            print(
                f"{HEADS[head]} anchor {anchor}: {used.sum():6d} cells, a {a:.3f} b {b:+.3f}, "
                f"residual sd {residual.std():.2f} (old logit sd {y[used].std():.2f})"
            )
            maps[head, anchor] = (a, b)
    return maps


def bake(
    state: dict[str, torch.Tensor], maps: np.ndarray, channels_per_anchor: int
) -> dict[str, torch.Tensor]:
    """The weights with each head's objectness output ``a * logit + b``."""
    baked = dict(state)
    for head, name in enumerate(HEADS):
        weight = state[f"{name}.pred.1.conv.weight"].clone()
        bias = state[f"{name}.pred.1.conv.bias"].clone()
        for anchor, (a, b) in enumerate(maps[head]):
            row = anchor * channels_per_anchor
            weight[row] *= float(a)
            bias[row] = float(a) * bias[row] + float(b)
        baked[f"{name}.pred.1.conv.weight"], baked[f"{name}.pred.1.conv.bias"] = weight, bias
    return baked


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--new", type=Path, required=True, help="the detector whose objectness is mapped")
    parser.add_argument("--baseline", type=Path, default=Path("weights/yolov3-tiny.safetensors"))
    parser.add_argument("--data", type=Path, default=Path("data/fitc"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--floor", type=float, default=0.05)
    parser.add_argument("--fit", choices=("ols", "spread"), default="ols")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)

    images = [sample.image_path for sample in load_split(args.data, args.split).samples[: args.limit]]
    new_model, _ = load_weights(args.new)
    old_model, _ = load_weights(args.baseline)
    maps = fit_maps(
        objectness_logits(new_model, images), objectness_logits(old_model, images), args.floor, args.fit
    )

    args.out.mkdir(parents=True, exist_ok=True)
    channels = new_model.config.num_classes + NUM_BOX_ATTRS
    target = args.out / args.baseline.name
    record = json.loads(metadata_path(args.baseline).read_text())
    record["version"] = f"{record['version']}+{args.new.parent.name}-recalibrated"
    save_tensors(bake(new_model.state_dict(), maps, channels), record, target, record["model"]["name"])
    if record.get("namer"):
        for path in args.baseline.parent.glob(f"{Path(record['namer']).stem}*"):
            shutil.copy(path, args.out / path.name)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()

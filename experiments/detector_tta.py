"""The detector run on several versions of its input, their candidate boxes pooled before selection.

    .venv/bin/python experiments/detector_tta.py --data data/synth --split val --variants shift:8 scale:0.8

Test-time augmentation as the YOLO repositories do it (ultralytics' ``augment=True``: the image at several
scales, the predictions concatenated before NMS), without flips (a flipped `2` is no `2`). Each variant of
the 192 px input is run in the same batch as the input itself, its decoded boxes mapped back to the input's
pixels, and every candidate of every variant goes to the shipped selection (objectness threshold, NMS,
ink fit, naming, containment). ``--threshold`` sets the objectness threshold (pooling takes the likeliest
of overlapping boxes, so objectness runs higher). The :class:`TorchBackend` class is patched, not an
instance: evaluation runs detectors of its own.

Variants: ``shift:D`` moves the drawing D input pixels right and down (half a cell of the finer grid is 8),
``shift:-D`` left and up; ``scale:S`` shrinks (S < 1) or enlarges (S > 1) it about the centre, white
where nothing is drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, nms

from digit_detector.data.yolo_format import load_split
from digit_detector.decode import decode
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.torch_backend import TorchBackend


def shifted(images: torch.Tensor, step: int) -> torch.Tensor:
    """``images`` (N, 3, S, S) moved ``step`` pixels right and down (left and up when negative), white in."""
    moved = torch.ones_like(images)
    if step >= 0:
        moved[:, :, step:, step:] = images[:, :, : images.shape[2] - step, : images.shape[3] - step]
    else:
        moved[:, :, :step, :step] = images[:, :, -step:, -step:]
    return moved


def scaled(images: torch.Tensor, factor: float) -> tuple[torch.Tensor, float]:
    """``images`` (N, 3, S, S) scaled by ``factor`` about the centre (white around a shrunk one, the
    centre cut out of an enlarged one), and the offset of the scaled image's corner in the input."""
    size = images.shape[-1]
    side = round(size * factor)
    resized = F.interpolate(
        images, size=(side, side), mode="bilinear", antialias=factor < 1, align_corners=False
    )
    offset = (size - side) // 2
    if side <= size:
        out = torch.ones_like(images)
        out[:, :, offset : offset + side, offset : offset + side] = resized
        return out, float(offset)
    start = -offset
    return resized[:, :, start : start + size, start : start + size].contiguous(), float(offset)


FUSE_IOU = 0.55  # boxes of different versions at least this alike are one object (weighted boxes fusion)
FUSE_FLOOR = 0.05  # candidates under this objectness take no part in the fusion


def fused(parts: list[torch.Tensor]) -> torch.Tensor:
    """Weighted boxes fusion of one image's decoded candidates ``(K, 5 + C)`` from each version: each
    version's candidates over :data:`FUSE_FLOOR` after NMS, clustered across versions (IoU over
    :data:`FUSE_IOU`, one box per version), each cluster one candidate: boxes and class probabilities
    averaged by objectness, objectness the versions' mean (a box one version misses counts 0 there)."""
    rows = []
    for version, part in enumerate(parts):
        candidates = part[part[:, 4] >= FUSE_FLOOR]
        keep = nms(candidates[:, :4], candidates[:, 4], 0.45)
        for row in candidates[keep]:
            rows.append((float(row[4]), version, row))
    rows.sort(key=lambda item: -item[0])
    clusters: list[list[tuple[int, torch.Tensor]]] = []
    centres: list[torch.Tensor] = []
    for _, version, row in rows:
        best, best_iou = None, FUSE_IOU
        for index, members in enumerate(clusters):
            if any(member_version == version for member_version, _ in members):
                continue
            iou = float(box_iou(centres[index][None, :4], row[None, :4])[0, 0])
            if iou > best_iou:
                best, best_iou = index, iou
        if best is None:
            clusters.append([(version, row)])
            centres.append(row.clone())
        else:
            clusters[best].append((version, row))
            stacked = torch.stack([member for _, member in clusters[best]])
            weights = stacked[:, 4:5]
            centre = (stacked * weights).sum(0) / weights.sum()
            centre[4] = stacked[:, 4].sum() / len(parts)
            centres[best] = centre
    for index, members in enumerate(clusters):
        if len(members) == 1:
            centres[index][4] = members[0][1][4] / len(parts)
    width = parts[0].shape[1]
    return torch.stack(centres) if centres else torch.zeros(0, width)


def pooled_backend(variants: list[str], fuse: bool) -> None:
    """Patch :class:`TorchBackend` to run ``variants`` of each input with it and pool their candidates."""

    def call(self: TorchBackend, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            images = torch.as_tensor(batch).to(self.device)
            versions, maps = [images], [(1.0, 0.0)]
            for variant in variants:
                kind, value = variant.split(":")
                if kind == "shift":
                    versions.append(shifted(images, int(value)))
                    maps.append((1.0, float(value)))
                else:
                    image, offset = scaled(images, float(value))
                    versions.append(image)
                    maps.append((float(value), offset))
            stacked = torch.cat(versions).contiguous(memory_format=torch.channels_last)
            decoded = decode(self.model(stacked), self.anchors, self.input_size, self.xy_scale)
            count = len(images)
            parts = []
            for index, (factor, offset) in enumerate(maps):
                part = decoded[index * count : (index + 1) * count].clone()
                part[..., :4] = (part[..., :4] - offset) / factor
                parts.append(part)
            if not fuse:
                return torch.cat(parts, dim=1).cpu()
            images_fused = [fused([part[n] for part in parts]) for n in range(count)]
            longest = max(len(rows) for rows in images_fused)
            out = torch.zeros(count, max(longest, 1), decoded.shape[-1])
            for n, rows in enumerate(images_fused):
                out[n, : len(rows)] = rows
            return out

    TorchBackend.__call__ = call  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--variants", nargs="*", default=["shift:8"])
    parser.add_argument("--threshold", type=float, nargs="+", default=[None])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fuse", action="store_true", help="weighted boxes fusion instead of pooling")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    samples = load_split(args.data, args.split).samples[: args.limit]
    pooled_backend(args.variants, args.fuse)
    for threshold in args.threshold:
        detector = Detector.from_weights(None, device="cpu")
        if threshold is not None:
            detector.score_threshold = threshold
        report = evaluate(detector, samples, progress=True)
        print(
            f"variants {args.variants} fuse {args.fuse} threshold {detector.score_threshold}: "
            f"single-digit top-1 "
            f"{report.single_digit_correct} of {report.single_digit_images}, numbers "
            f"{report.number_correct} of {report.number_images}, wrong class {report.wrong_class}, "
            f"false positives {report.false_positives}, missed {report.missed}, "
            f"other taken {report.other_taken_for_digit}"
        )


if __name__ == "__main__":
    main()

"""``roi_align`` (torchvision's, ``aligned=True``, adaptive sampling) as two matrix products.

A crop pixel of ``roi_align`` averages a grid of bilinear samples over its bin, ``ceil(bin size)`` on each
axis: one an input pixel or more. Bilinear weights are a product of a row weight and a column weight, and
the samples lie on a grid, so a crop is ``rows @ plane @ columns.T``: ``rows`` ``(size, H)`` holds what each
crop row takes from each image row (the averaged weights of its samples), ``columns`` the same across.
The cost no longer grows with the box (two products with the image plane a crop, whatever its size):
``roi_align`` sampled a digit three fifths of the canvas tall 36 times a crop pixel, which cost about as
much as the namer's convolutions (docs/experiments.md, package 4.29.0). The crops are the same up to float
rounding (tests), and the code is plain tensor operations, so the ONNX export computes them the same way.
"""

from __future__ import annotations

import torch

# Samples a crop pixel on each axis at most: roi_align's count for a square up to MAX_SAMPLES x the crop
# size (560 input pixels for a 28-pixel crop, three times the detector's input), beyond it an average of
# fewer samples. Fixed, so the ONNX graph needs no shapes that depend on the boxes.
MAX_SAMPLES = 20


def axis_weights(start: torch.Tensor, extent: torch.Tensor, size: int, length: int) -> torch.Tensor:
    """``(K, size, length)``: how much crop row ``p`` of each of K regions (``start`` and ``extent``
    ``(K,)`` along one axis, in pixel coordinates where pixel ``i`` spans ``i .. i + 1`` minus a half, as
    ``roi_align(aligned=True)`` places them) takes from each of the image's ``length`` rows."""
    bin_size = extent / size
    samples = torch.ceil(bin_size).clamp(min=1.0, max=float(MAX_SAMPLES))  # (K,)
    row = torch.arange(size, dtype=start.dtype, device=start.device)
    sample = torch.arange(MAX_SAMPLES, dtype=start.dtype, device=start.device)
    at = (
        start[:, None, None]
        + row[None, :, None] * bin_size[:, None, None]
        + (sample[None, None, :] + 0.5) * (bin_size / samples)[:, None, None]
    )  # (K, size, MAX_SAMPLES)
    # roi_align's bilinear_interpolate: nothing from a sample beyond a pixel outside the image, a sample
    # before the first row read at it, one on or past the last row read from the last row alone
    taken = (sample[None, None, :] < samples[:, None, None]) & (at >= -1.0) & (at <= length)
    last = float(length - 1)
    at = at.clamp(min=0.0, max=last)
    low = torch.floor(at)
    high = (low + 1.0).clamp(max=last)
    above = at - low
    share = taken.to(start.dtype) / samples[:, None, None]
    count = start.shape[0]
    weights = torch.zeros(count, size, length, dtype=start.dtype, device=start.device)
    weights = weights.scatter_add(2, low.long(), (1.0 - above) * share)
    return weights.scatter_add(2, high.long(), above * share)


def square_crops_of(
    plane: torch.Tensor, regions: torch.Tensor, image_index: torch.Tensor, size: int
) -> torch.Tensor:
    """``(K, 1, size, size)`` crops of ``plane`` ``(N, 1, H, W)`` over ``regions`` ``(K, 4)`` (xyxy, input
    pixels) of the images ``image_index`` ``(K,)``: ``roi_align(plane, regions, size, 1.0, 0, True)``, zero
    outside the image."""
    height, width = plane.shape[-2], plane.shape[-1]
    start = regions - 0.5  # aligned: pixel i's centre is at i + 0.5
    rows = axis_weights(start[:, 1], start[:, 3] - start[:, 1], size, height)
    columns = axis_weights(start[:, 0], start[:, 2] - start[:, 0], size, width)
    planes = plane[image_index.long(), 0]  # (K, H, W)
    return (rows @ planes @ columns.transpose(1, 2)).unsqueeze(1)

"""The namer's crops as two matrix products cut what torchvision's ``roi_align`` cuts."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align

from digit_detector.crops import MAX_SAMPLES, square_crops_of


def reference(
    plane: torch.Tensor, regions: torch.Tensor, image_index: torch.Tensor, size: int
) -> torch.Tensor:
    """What the namer cut its crops with up to package 4.28: aligned, adaptive sampling."""
    rois = torch.cat((image_index.to(plane).reshape(-1, 1), regions), dim=1)
    return roi_align(plane, rois, output_size=size, spatial_scale=1.0, sampling_ratio=0, aligned=True)


def test_crops_are_roi_align_s_for_boxes_of_every_size_and_place() -> None:
    generator = torch.Generator().manual_seed(0)
    plane = torch.rand(3, 1, 192, 192, generator=generator)
    count = 500
    centres = torch.rand(count, 2, generator=generator) * 260 - 34  # some boxes reach past the image
    sides = torch.rand(count, 2, generator=generator) * 300 + 0.2  # up to 11 samples a crop pixel
    regions = torch.cat((centres - sides / 2, centres + sides / 2), dim=1)
    image_index = torch.randint(0, 3, (count,), generator=generator)
    torch.testing.assert_close(
        square_crops_of(plane, regions, image_index, 28),
        reference(plane, regions, image_index, 28),
        rtol=0,
        atol=1e-5,
    )


@pytest.mark.parametrize("side", [0.5, 1.0, 27.9, 28.0, 28.1, 56.0, 140.3, 28.0 * MAX_SAMPLES])
def test_crops_at_the_sampling_steps(side: float) -> None:
    """Where roi_align's sample count steps (a crop pixel a whole number of input pixels), and at the
    largest square sampled as roi_align samples it."""
    plane = torch.rand(1, 1, 64, 80, generator=torch.Generator().manual_seed(1))
    regions = torch.tensor([[10.3, -5.7, 10.3 + side, -5.7 + side], [-side / 2, 30.0, side / 2, 30.0 + side]])
    image_index = torch.zeros(2, dtype=torch.int64)
    torch.testing.assert_close(
        square_crops_of(plane, regions, image_index, 28),
        reference(plane, regions, image_index, 28),
        rtol=0,
        atol=1e-5,
    )


def test_a_crop_outside_the_image_is_zero_and_a_crop_of_a_constant_is_that_constant() -> None:
    plane = torch.full((1, 1, 32, 32), 0.25)
    regions = torch.tensor([[-90.0, -90.0, -50.0, -50.0], [4.0, 4.0, 28.0, 28.0]])
    crops = square_crops_of(plane, regions, torch.zeros(2, dtype=torch.int64), 14)
    assert crops.shape == (2, 1, 14, 14)
    assert crops[0].abs().max() == 0.0
    torch.testing.assert_close(crops[1], torch.full((1, 14, 14), 0.25))

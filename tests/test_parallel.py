"""The ordered process-pool map that data generation and loading share."""

from __future__ import annotations

import pytest
import torch

from digit_detector.parallel import MIN_ITEMS_PER_WORKER, default_workers, ordered_map


def _square_with_torch(value: int) -> int:
    """value squared, through a torch op large enough to run on torch's thread pool"""
    return int(torch.full((200_000,), float(value)).square().max().item())


def test_pool_keeps_order_and_equals_serial() -> None:
    items = list(range(4 * MIN_ITEMS_PER_WORKER))
    serial = list(ordered_map(_square_with_torch, items, 1))
    pooled = list(ordered_map(_square_with_torch, items, 2))
    assert pooled == serial == [value * value for value in items]


@pytest.mark.timeout(120)
def test_pool_after_parallel_torch_work_in_the_parent_does_not_hang() -> None:
    """A forked child inherits torch's OpenMP pool; unless the worker runs torch single-threaded, its first
    torch op waits forever for threads that do not exist in the child."""
    torch.set_num_threads(2)
    matrix = torch.randn(1500, 1500)
    assert torch.isfinite(matrix @ matrix).all()
    items = list(range(2 * MIN_ITEMS_PER_WORKER))
    assert list(ordered_map(_square_with_torch, items, 2)) == [value * value for value in items]


def test_few_items_run_here_and_workers_default_to_the_cores() -> None:
    seen: list[int] = []
    assert list(ordered_map(seen.append, [1, 2, 3], 8)) == [None, None, None]
    assert seen == [1, 2, 3]  # appended in this process: three items start no pool
    assert default_workers(None) >= 1
    assert default_workers(3) == 3

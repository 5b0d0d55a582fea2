"""Ordered map over a pool of processes: the one way data generation and loading use several cores."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import cv2
from tqdm import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")

MIN_ITEMS_PER_WORKER = 32


def default_workers(workers: int | None) -> int:
    """``workers`` when given, else one per core this process may use."""
    if workers is not None:
        return max(1, workers)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _start_worker(
    set_threads: bool, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> None:
    if set_threads:  # a spawned child only: reconfiguring cv2's inherited pool in a forked one can hang
        cv2.setNumThreads(1)
    torch = sys.modules.get("torch")
    if torch is not None:  # one core per worker; a forked child's inherited OpenMP pool hangs at its first op
        torch.set_num_threads(1)
    if initializer is not None:
        initializer(*initargs)


def ordered_map(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int,
    *,
    desc: str | None = None,
    progress: bool = False,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[Result]:
    """``function`` over ``items`` in order, in this process (``workers <= 1``) or a pool of ``workers``.

    The pool forks where the platform can (workers start at once, sharing what is already imported: torch
    takes seconds to import); OpenCV is set to one thread while forking so that the children inherit no
    thread pool. ``initializer(*initargs)`` runs once per worker (or once here when serial). Fewer than
    ``MIN_ITEMS_PER_WORKER`` items per worker run here: starting a pool would cost more than it saves."""
    bar = tqdm(total=len(items), desc=desc, disable=not progress or desc is None)
    workers = min(workers, len(items) // MIN_ITEMS_PER_WORKER)
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield function(item)
            bar.update()
        bar.close()
        return
    forking = "fork" in mp.get_all_start_methods()
    context = mp.get_context("fork" if forking else "spawn")
    chunk = max(1, min(32, len(items) // (workers * 8)))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        pool = context.Pool(workers, initializer=_start_worker, initargs=(not forking, initializer, initargs))
    finally:
        cv2.setNumThreads(threads)
    with pool:
        for result in pool.imap(function, items, chunksize=chunk):
            yield result
            bar.update()
    bar.close()

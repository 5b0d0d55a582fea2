"""Channels-last (NHWC) against the default layout for the shipped detector and namer on the CPU (A/B).

    .venv/bin/python experiments/channels_last.py [--rounds 30] [--threads 2]

Times the detector's forward pass on a 192x192 input and the namer (crops and classifier) on three boxes,
each layout in turn within every round (so that a busy or throttled machine slows both alike), and prints
the median and the fastest round per call, and the largest output difference between the layouts.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import numpy as np
import torch

from digit_detector.detector import Detector

CALLS_PER_ROUND = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the app runs 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = Detector.from_weights(device="cpu")
    assert detector.namer is not None and hasattr(detector.namer, "module"), "needs the torch namer"
    model = copy.deepcopy(detector.backend.model).to(memory_format=torch.contiguous_format)  # type: ignore[attr-defined]
    model_nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    namer = copy.deepcopy(detector.namer.module).to(memory_format=torch.contiguous_format)
    namer_nhwc = copy.deepcopy(namer).to(memory_format=torch.channels_last)
    image = torch.rand(1, 3, 192, 192)
    image_nhwc = image.contiguous(memory_format=torch.channels_last)
    boxes = torch.tensor([[30.0, 30, 60, 90], [80, 40, 110, 100], [120, 60, 150, 120]])
    index = torch.zeros(3, dtype=torch.int64)
    calls: dict[str, Callable[[], object]] = {
        "detector, NCHW": lambda: model(image),
        "detector, NHWC": lambda: model_nhwc(image_nhwc),
        "namer (3 boxes), NCHW": lambda: namer(image, boxes, index),
        "namer (3 boxes), NHWC": lambda: namer_nhwc(image, boxes, index),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    with torch.inference_mode():
        for call in calls.values():
            for _ in range(CALLS_PER_ROUND * 2):
                call()
        for _ in range(args.rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                for _ in range(CALLS_PER_ROUND):
                    call()
                times[name].append((time.perf_counter() - start) * 1000 / CALLS_PER_ROUND)
        head = max(
            float((a - b).abs().max()) for a, b in zip(model(image), model_nhwc(image_nhwc), strict=True)
        )
        named = float((namer(image, boxes, index) - namer_nhwc(image, boxes, index)).abs().max())
    for name, values in times.items():
        print(f"{name:>22}: median {np.median(values):.2f} ms, fastest round {np.min(values):.2f} ms")
    print(f"largest difference: detector heads {head:.1e}, namer probabilities {named:.1e}")


if __name__ == "__main__":
    main()

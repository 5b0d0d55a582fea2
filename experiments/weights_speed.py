"""Several weights timed side by side: the benchmark's three canvases (`scripts/benchmark.py`) read by each
weights file on PyTorch and onnxruntime, the readers taking turns 5 calls at a time, so the host's changes of
speed fall on all of them alike. Prints the 10th percentile (the host at its quietest), the median and what
each reads.

    .venv/bin/python experiments/weights_speed.py --weights weights/yolov3-tiny.safetensors \
        runs/v18/yolov3-tiny.safetensors --rounds 60
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from digit_detector.detector import Detector

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+", required=True, help="weights files to compare")
    parser.add_argument("--rounds", type=int, default=60, help="turns of 5 calls per reader and canvas")
    args = parser.parse_args()
    torch.set_num_threads(2)
    readers = {
        f"{path} {backend}": Detector.from_weights(path, backend=backend)
        for path in args.weights
        for backend in ("torch", "onnx")
    }
    canvases = {
        "number": benchmark.canvas(),
        "lone digit": benchmark.lone_canvas(),
        "unsure lone digit": benchmark.lone_canvas(bar=30),
    }
    for canvas_name, image in canvases.items():
        times: dict[str, list[float]] = {name: [] for name in readers}
        shown: dict[str, str] = {}
        for _ in range(args.rounds):
            for name, reader in readers.items():
                reader(image)
                for _ in range(5):
                    start = time.perf_counter()
                    result = reader(image)
                    times[name].append(time.perf_counter() - start)
                shown[name] = result.number
        print(f"== {canvas_name} canvas")
        for name, values in times.items():
            low, middle = 1000 * np.percentile(values, 10), 1000 * np.median(values)
            print(f"{name}: p10 {low:.2f} ms, median {middle:.2f} ms, reads {shown[name]!r}")


if __name__ == "__main__":
    main()

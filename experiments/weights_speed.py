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
from pathlib import Path

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
        times = benchmark.interleaved_times(readers, image, args.rounds, dict.fromkeys(readers, 5))
        print(f"== {canvas_name} canvas")
        for name, reader in readers.items():
            low, middle = times[name]["p10_ms"], times[name]["median_ms"]
            print(f"{name}: p10 {low:.2f} ms, median {middle:.2f} ms, reads {reader(image).number!r}")


if __name__ == "__main__":
    main()

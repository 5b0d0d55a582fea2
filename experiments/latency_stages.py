"""Where the time of one canvas goes: the benchmark's number canvas (`scripts/benchmark.py`'s `canvas()`) read
by the shipped weights on each backend, with each stage's time summed by wrappers (no profiler overhead).

    .venv/bin/python experiments/latency_stages.py --runs 300

Stages: preprocessing, the detector network, boxes fitted to the ink, the namer's calls (its first look and
the looks again at unsure boxes) and `name_probabilities` around them; the rest of the total is decoding,
selection, containment and the results. Run it on an idle machine, beside `scripts/benchmark.py` for the
full `yolov3` of the same moment.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import digit_detector.detector as detector_module
from digit_detector import onnx_backend, second_stage
from digit_detector.weights import default_weights_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import benchmark

SPENT: defaultdict[str, float] = defaultdict(float)


def timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper that adds its time to ``SPENT[label]``."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = original(*args, **kwargs)
        SPENT[label] += time.perf_counter() - start
        return result

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    timed(detector_module, "preprocess_array", "preprocess")
    timed(onnx_backend.OnnxBackend, "__call__", "detector network")
    timed(detector_module.TorchBackend, "__call__", "detector network")
    timed(detector_module, "fit_boxes_to_ink", "boxes fitted to the ink")
    timed(onnx_backend.OnnxNamer, "__call__", "namer calls")
    timed(second_stage.TorchNamer, "__call__", "namer calls")
    timed(detector_module, "name_probabilities", "name_probabilities (with the namer calls)")
    image = benchmark.canvas()
    onnx, metadata = onnx_backend.load_onnx_backend(threads=args.threads)
    namer = default_weights_path().parent / metadata.namer if metadata.namer else None
    readers = {
        "onnxruntime": detector_module.Detector(
            onnx, metadata, namer=onnx_backend.load_onnx_namer(namer, threads=args.threads) if namer else None
        ),
        "PyTorch": detector_module.Detector.from_weights(None, backend="torch"),
    }
    for backend, detector in readers.items():
        shown = detector(image)
        for _ in range(30):
            detector(image)
        SPENT.clear()
        total = 0.0
        for _ in range(args.runs):
            start = time.perf_counter()
            detector(image)
            total += time.perf_counter() - start
        stages = ", ".join(f"{label} {seconds / args.runs * 1000:.2f} ms" for label, seconds in SPENT.items())
        print(f"{backend}: {total / args.runs * 1000:.2f} ms per canvas ({shown.number!r} shown); {stages}")


if __name__ == "__main__":
    main()

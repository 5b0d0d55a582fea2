"""Where the time of one canvas goes: the benchmark's number canvas (`scripts/benchmark.py`'s `canvas()`) read
by the shipped weights on each backend, with each stage's time summed by wrappers (no profiler overhead).

    .venv/bin/python experiments/latency_stages.py --runs 300
    .venv/bin/python experiments/latency_stages.py --canvases data/val4:val --limit 300


Stages: preprocessing, the detector network, boxes fitted to the ink, the namer's calls (its first look and
the looks again at unsure boxes) and `name_probabilities` around them; the rest of the total is decoding,
selection, containment and the results. Run it on an idle machine, beside `scripts/benchmark.py` for the
full `yolov3` of the same moment. ``--canvases ROOT:SPLIT`` times instead the split's first ``--limit``
canvases with two digits or more, each read once (median and p90 per canvas): the benchmark's canvas is one
the namer is unsure of, these are what the validation sets hold.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

import digit_detector.detector as detector_module
from digit_detector import onnx_backend, second_stage, torch_backend
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.io import read_image
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


def number_canvases(spec: str, limit: int) -> list[NDArray[np.uint8]]:
    """The first ``limit`` canvases of ``ROOT:SPLIT`` with two digits or more, as RGB arrays."""
    root, _, split = spec.rpartition(":")
    samples = [s for s in load_split(Path(root), split).samples if holds_digits(s.class_ids, 2)]
    return [np.asarray(read_image(s.image_path).convert("RGB")) for s in samples[:limit]]


def holds_digits(class_ids: Any, at_least: int) -> bool:
    """Whether ``class_ids`` hold at least ``at_least`` digits."""
    return sum(is_digit(int(c)) for c in np.asarray(class_ids).reshape(-1)) >= at_least


def time_canvases(readers: dict[str, detector_module.Detector], images: list[NDArray[np.uint8]]) -> None:
    """Each reader's median and p90 time per canvas of ``images``, each read once after a warm-up."""
    for backend, detector in readers.items():
        for image in images[:10]:
            detector(image)
        times = []
        for image in images:
            start = time.perf_counter()
            detector(image)
            times.append((time.perf_counter() - start) * 1000)
        print(
            f"{backend}: median {np.median(times):.2f} ms, p90 {np.percentile(times, 90):.2f} ms "
            f"over {len(times)} canvases"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--canvases", default=None, help="ROOT:SPLIT: time its number canvases instead")
    parser.add_argument("--limit", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    timed(detector_module, "preprocess_array", "preprocess")
    timed(onnx_backend.OnnxBackend, "__call__", "detector network")
    timed(torch_backend.TorchBackend, "__call__", "detector network")
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
    if args.canvases:
        time_canvases(readers, number_canvases(args.canvases, args.limit))
        return
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

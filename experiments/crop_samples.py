"""How many samples a namer crop pixel needs: the shipped namer exported to ONNX with each sampling count of
its crops (``naming.CROP_SAMPLES``; 0 is ``roi_align``'s adaptive count, the rule up to package 4.28), each
read through the whole onnxruntime pipeline on the same canvases, and timed on the benchmark's number canvas.

    .venv/bin/python experiments/crop_samples.py --samples 0 2 1 --data data/val2:val data/val3:val

The first ``--samples`` is the baseline of the paired comparison (`paired_reading.py`'s sign test). Each
count is exported afresh into a scratch folder; the package's own export is not touched.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import digit_detector.naming as naming
from digit_detector import onnx_backend
from digit_detector.detector import Detector
from digit_detector.export import export_namer
from digit_detector.weights import default_weights_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import benchmark
from paired_reading import load_samples, readings, report


def exported(samples: int, folder: Path, namer_weights: Path) -> Path:
    """The namer exported with ``samples`` samples a crop pixel on each axis (0: adaptive)."""
    shipped = naming.CROP_SAMPLES
    naming.CROP_SAMPLES = samples
    try:
        return export_namer(namer_weights, folder / f"namer-{samples}.onnx")
    finally:
        naming.CROP_SAMPLES = shipped


def median_ms(reader: Detector, image: np.ndarray, runs: int) -> float:
    """Median time of ``reader`` on ``image`` over ``runs`` calls, after a warm-up."""
    for _ in range(20):
        reader(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        reader(image)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[0, 2], help="baseline first; 0: adaptive")
    parser.add_argument("--data", nargs="+", required=True, help="ROOT:SPLIT, read together")
    parser.add_argument("--runs", type=int, default=300, help="timed calls on the benchmark canvas")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    backend, metadata = onnx_backend.load_onnx_backend(threads=args.threads)
    if not metadata.namer:
        raise SystemExit("the shipped weights have no namer")
    namer_weights = default_weights_path().parent / metadata.namer
    with tempfile.TemporaryDirectory() as scratch:
        namers = [
            onnx_backend.OnnxNamer(exported(count, Path(scratch), namer_weights), threads=args.threads)
            for count in args.samples
        ]
        readers = [Detector(backend, metadata, namer=namer) for namer in namers]
        image = benchmark.canvas()
        for count, reader in zip(args.samples, readers, strict=True):
            print(f"{count} samples: {median_ms(reader, image, args.runs):.2f} ms on the number canvas")
        samples, sets = load_samples(args.data)
        numbers, singles = readings(readers, samples)
    report([f"{count} samples" for count in args.samples], args.data, sets, numbers, singles)


if __name__ == "__main__":
    main()

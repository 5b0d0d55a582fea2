"""What package 4.29.0's two namer speed-ups give, end to end: the benchmark's three canvases
(`scripts/benchmark.py`) read by the shipped weights with the namer's crops cut by ``roi_align`` (up to
4.28) or as two matrix products (:mod:`digit_detector.crops`), and on PyTorch with its batch norms folded
or not (:func:`digit_detector.naming.folded_batch_norms`). The variants take turns, 5 calls at a time, so
the host's changes of speed fall on all of them alike; the 10th percentile (the host at its quietest) and
the median are printed with what each reads.

    .venv/bin/python experiments/namer_speed.py --rounds 60
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import roi_align

import digit_detector.naming as naming
from digit_detector import onnx_backend
from digit_detector.detector import Detector
from digit_detector.export import export_namer
from digit_detector.second_stage import TorchNamer
from digit_detector.weights import default_weights_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import benchmark

MATRIX_CROPS = naming.square_crops_of


def roi_align_crops(
    plane: torch.Tensor, regions: torch.Tensor, image_index: torch.Tensor, size: int
) -> torch.Tensor:
    """The crops as package 4.28 cut them."""
    rois = torch.cat((image_index.to(plane).reshape(-1, 1), regions), dim=1)
    return roi_align(plane, rois, output_size=size, spatial_scale=1.0, sampling_ratio=0, aligned=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="turns of 5 calls per variant and canvas")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch_reader = Detector.from_weights(None, backend="torch")
    folded = torch_reader.namer
    assert isinstance(folded, TorchNamer)
    classifier, _ = naming.load_namer(default_weights_path().parent / "yolov3-tiny.namer.safetensors")
    plain = TorchNamer(classifier, torch.device("cpu"))  # then its batch norms as they are (4.28)
    plain.module = naming.BoxNamer(classifier).eval().to(memory_format=torch.channels_last)
    backend, metadata = onnx_backend.load_onnx_backend(threads=2)
    with tempfile.TemporaryDirectory() as scratch:
        naming.square_crops_of = roi_align_crops
        old_export = export_namer(
            default_weights_path().parent / str(metadata.namer), Path(scratch) / "old.onnx"
        )
        naming.square_crops_of = MATRIX_CROPS
        onnx_old = Detector(backend, metadata, namer=onnx_backend.OnnxNamer(old_export, threads=2))
        onnx_new = Detector.from_weights(None, backend="onnx")
        # each variant: what reads, with which crop cutting
        variants: dict[str, tuple[Callable[[np.ndarray], object], Callable[..., torch.Tensor]]] = {
            "PyTorch, roi_align, batch norms": (
                lambda image: read(torch_reader, plain, image),
                roi_align_crops,
            ),
            "PyTorch, matrix crops, batch norms": (
                lambda image: read(torch_reader, plain, image),
                MATRIX_CROPS,
            ),
            "PyTorch, matrix crops, folded (4.29.0)": (
                lambda image: read(torch_reader, folded, image),
                MATRIX_CROPS,
            ),
            "onnxruntime, roi_align": (onnx_old, MATRIX_CROPS),
            "onnxruntime, matrix crops (4.29.0)": (onnx_new, MATRIX_CROPS),
        }
        canvases = {
            "number": benchmark.canvas(),
            "lone digit": benchmark.lone_canvas(),
            "unsure lone digit": benchmark.lone_canvas(bar=30),
        }
        for canvas_name, image in canvases.items():
            times: dict[str, list[float]] = {name: [] for name in variants}
            shown: dict[str, str] = {}
            for _ in range(args.rounds):
                for name, (reader, crops) in variants.items():
                    naming.square_crops_of = crops
                    reader(image)
                    for _ in range(5):
                        start = time.perf_counter()
                        result = reader(image)
                        times[name].append(time.perf_counter() - start)
                    shown[name] = result.number  # type: ignore[attr-defined]
            naming.square_crops_of = MATRIX_CROPS
            print(f"== {canvas_name} canvas")
            for name, values in times.items():
                low, middle = 1000 * np.percentile(values, 10), 1000 * np.median(values)
                print(f"{name}: p10 {low:.2f} ms, median {middle:.2f} ms, reads {shown[name]!r}")


def read(reader: Detector, namer: TorchNamer, image: np.ndarray) -> object:
    """``reader``'s result for ``image`` with ``namer`` as its namer."""
    reader.namer = namer
    return reader(image)


if __name__ == "__main__":
    main()

"""An int8 namer for onnxruntime: the shipped namer's ONNX export quantized after training (onnxruntime's
``quantize_static``: QDQ, signed int8 weights and activations, per-channel weight scales, convolutions
only), calibrated on the true boxes of a split's canvases, then read through the whole onnxruntime pipeline
against the float namer on the same canvases (`paired_reading.py`'s sign test).

    .venv/bin/python experiments/int8_namer.py --calibration data/synth:val --images 200 \
        --data data/val2:val data/val3:val data/val4:val

The detector stays float (its int8 trial: `int8_detector.py`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from digit_detector import onnx_backend
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess_array
from digit_detector.weights import default_weights_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_reading import load_samples, readings, report


class TrueBoxReader(CalibrationDataReader):
    """Feeds the namer's inputs for each canvas: its preprocessed image and its true boxes."""

    def __init__(self, samples: list[Sample]) -> None:
        self.inputs: Iterator[dict[str, np.ndarray]] = (
            feed for sample in samples if (feed := namer_inputs(sample)) is not None
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.inputs, None)


def namer_inputs(sample: Sample) -> dict[str, np.ndarray] | None:
    """The namer's ONNX inputs for ``sample``'s true boxes (None for a canvas without any)."""
    boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return None
    batch, letterbox = preprocess_array(read_image(sample.image_path))
    return {
        "images": batch,
        "boxes": letterbox.to_input(boxes).astype(np.float32),
        "image_index": np.zeros(len(boxes), dtype=np.int64),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calibration", default="data/synth:val", help="ROOT:SPLIT whose true boxes calibrate"
    )
    parser.add_argument("--images", type=int, default=200, help="calibration canvases (the split's first)")
    parser.add_argument("--data", nargs="+", required=True, help="ROOT:SPLIT, read together")
    args = parser.parse_args()
    backend, metadata = onnx_backend.load_onnx_backend(threads=2)
    if not metadata.namer:
        raise SystemExit("the shipped weights have no namer")
    float_namer = onnx_backend.load_onnx_namer(default_weights_path().parent / metadata.namer, threads=2)
    root, _, split = args.calibration.rpartition(":")
    calibration = load_split(Path(root), split).samples[: args.images]
    with tempfile.TemporaryDirectory() as scratch:
        prepared, quantized = Path(scratch) / "prepared.onnx", Path(scratch) / "namer-int8.onnx"
        quant_pre_process(str(float_namer.path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            TrueBoxReader(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["Conv"],
        )
        readers = [
            Detector(backend, metadata, namer=float_namer),
            Detector(backend, metadata, namer=onnx_backend.OnnxNamer(quantized, threads=2)),
        ]
        samples, sets = load_samples(args.data)
        numbers, singles = readings(readers, samples)
    report(["float namer", "int8 namer"], args.data, sets, numbers, singles)


if __name__ == "__main__":
    main()

"""Static int8 quantization of the detector's ONNX export: a candidate directory to evaluate and time.

    .venv/bin/python experiments/int8_detector.py --weights weights/yolov3-tiny.safetensors \
        --calibration data/fresh/images/train --images 300 --keep-float heads first \
        --method percentile --out runs/cand-int8
    .venv/bin/python -m digit_detector eval --data data/synth --split val --backend onnx \
        --weights runs/cand-int8/yolov3-tiny.onnx

onnxruntime's ``quantize_static`` (QDQ format, signed int8 weights and activations, per-channel weight
scales, convolutions only) calibrated on training canvases that went through the package's own
preprocessing. ``--keep-float`` leaves chosen convolutions in float: ``heads`` the three 1x1 output
convolutions (objectness, box and class logits, the most sensitive to rounding), ``first`` the stem's
first convolution (its input is the image). The output directory gets the weights' metadata record and
namer beside the quantized ``.onnx`` (not the float weights, which would be exported over it), so
``eval --backend onnx --weights <out>/<name>.onnx`` runs it as a shipped model.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image
from tqdm import tqdm

from digit_detector.onnx_backend import OnnxBackend, load_onnx_backend
from digit_detector.preprocess import preprocess_array

METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}


class CanvasReader(CalibrationDataReader):
    """Feeds ``images`` preprocessed canvases, one per call, as the detector's ``images`` input."""

    def __init__(self, paths: list[Path]) -> None:
        self.inputs: Iterator[np.ndarray] = (
            preprocess_array(Image.open(path))[0] for path in tqdm(paths, desc="calibration")
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.inputs, None)
        return None if batch is None else {"images": batch}


def float_convs(model: onnx.ModelProto, keep: list[str]) -> list[str]:
    """Names of the convolutions ``--keep-float`` leaves in float."""
    names = [node.name for node in model.graph.node if node.op_type == "Conv"]
    kept = []
    if "heads" in keep:
        kept += [name for name in names if "/pred/pred.1/" in name]
    if "first" in keep:
        kept.append(names[0])
    return kept


def median_ms(backend: OnnxBackend, batch: np.ndarray, runs: int = 200) -> float:
    backend(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend(batch)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=Path("weights/yolov3-tiny.safetensors"))
    parser.add_argument("--calibration", type=Path, required=True, help="folder of training canvases")
    parser.add_argument(
        "--images", type=int, default=300, help="calibration canvases (spread over the folder)"
    )
    parser.add_argument("--keep-float", nargs="*", choices=["heads", "first"], default=[])
    parser.add_argument("--method", choices=sorted(METHODS), default="minmax")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    float_backend, _ = load_onnx_backend(args.weights, threads=2)  # exports <weights>.onnx when missing
    source = float_backend.path
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.weights.parent.glob(f"{args.weights.stem}.*"):
        if path.suffix == ".json" or ".namer." in path.name:  # not the float detector: run the int8 one
            shutil.copy(path, args.out / path.name)
    paths = sorted(args.calibration.glob("*.png"))
    paths = paths[:: max(1, len(paths) // args.images)][: args.images]
    target = args.out / source.name
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            CanvasReader(paths),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=float_convs(onnx.load(str(source)), args.keep_float),
            calibrate_method=METHODS[args.method],
        )
    batch = preprocess_array(Image.open(paths[0]))[0]
    quantized = OnnxBackend(target, threads=2)
    float_ms, int8_ms = median_ms(float_backend, batch), median_ms(quantized, batch)
    print(f"float {float_ms:.2f} ms, int8 {int8_ms:.2f} ms per canvas")
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

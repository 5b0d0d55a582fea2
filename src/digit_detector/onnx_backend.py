"""An onnxruntime backend for the Detector: runs the ``.onnx`` export (network + decode) on the CPU.

Needs only onnxruntime and numpy (no torch: requirements-onnx.txt serves the app with this backend alone);
exporting a missing ``.onnx`` first also needs torch and the onnx package (requirements-dev.txt). The
backend and the namer take numpy arrays and give numpy arrays; given torch tensors they give tensors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from digit_detector.boxes import is_tensor
from digit_detector.weights import (
    WeightsError,
    WeightsMetadata,
    check_readable,
    default_weights_path,
    metadata_path,
    read_metadata,
)

if TYPE_CHECKING:
    import torch

METADATA_KEY = "digit_detector"  # as digit_detector.export.METADATA_KEY (not imported: export needs onnx)
ArrayT = TypeVar("ArrayT", "torch.Tensor", NDArray[Any])


def _as_numpy(array: object, dtype: type[np.generic]) -> NDArray[Any]:
    """A C-contiguous numpy array of ``dtype`` from a numpy array or a (detached, CPU) torch tensor."""
    if is_tensor(array):
        array = array.detach().cpu().numpy()
    return np.ascontiguousarray(array, dtype=dtype)


def _like(result: NDArray[Any], template: ArrayT) -> ArrayT:
    """``result`` as the kind of array ``template`` is: a tensor for a tensor input, else numpy."""
    if is_tensor(template):
        import torch

        return torch.from_numpy(result)
    return result


def open_session(path: Path, threads: int | None) -> ort.InferenceSession:
    """``path`` opened with the CPU provider and full graph optimisation; ``threads`` intra-op threads
    (default: onnxruntime's choice, one per physical core). An unusable file raises WeightsError."""
    check_readable(path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
    # No busy-waiting between runs: the threads would steal the CPU from preprocessing and NMS
    # (measured: 14 -> 8 ms end to end for yolov3-tiny on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: a bad file is reported by the WeightsError below
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph types
        size = path.stat().st_size
        raise WeightsError(
            f"{path} ({size:,} bytes) is not a usable ONNX model ({type(error).__name__}): "
            "export it again with `python -m digit_detector export --format onnx`."
        ) from error


class OnnxBackend:
    """A Backend (see detector.py): ``(N, 3, S, S)`` float batch -> decoded rows ``(N, K, 5 + C)``."""

    def __init__(self, path: Path | str, *, threads: int | None = None) -> None:
        """Open ``path`` (see :func:`open_session`)."""
        self.path = Path(path)
        self.session = open_session(self.path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def metadata(self) -> WeightsMetadata | None:
        """The weights metadata embedded at export (``metadata_props``), or None when there is none."""
        record = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if record is None:
            return None
        try:
            return WeightsMetadata.from_dict(json.loads(record))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{self.path} holds an invalid weights metadata record ({error}).") from error

    def __call__(self, batch: ArrayT) -> ArrayT:
        (decoded,) = self.session.run(None, {self.input_name: _as_numpy(batch, np.float32)})
        return _like(decoded, batch)


def _export(weights: Path, onnx_path: Path, arch: str | None, reason: str) -> None:
    from digit_detector.export import export_onnx  # needs the onnx package

    print(f"{onnx_path} {reason}: exporting it from {weights} ...", file=sys.stderr)
    export_onnx(weights, onnx_path, arch=arch)


def load_onnx_backend(
    path: Path | str | None = None, arch: str | None = None, *, threads: int | None = None
) -> tuple[OnnxBackend, WeightsMetadata]:
    """The backend and metadata for weights run with onnxruntime.

    A ``.onnx`` path is used as it is (metadata from the ``.json`` beside it, else the embedded one). Any
    other weights path (default: the shipped model) runs ``<weights>.onnx``, exported first (said on
    stderr) when it is missing or its embedded metadata differs from the weights' ``.json``.
    """
    weights = Path(path) if path is not None else default_weights_path()
    onnx_path = weights if weights.suffix == ".onnx" else weights.with_suffix(".onnx")
    derived = onnx_path != weights
    if derived and not onnx_path.is_file():
        check_readable(weights)  # neither file: say that the weights are missing
        _export(weights, onnx_path, arch, "does not exist")
    backend = OnnxBackend(onnx_path, threads=threads)
    record = metadata_path(onnx_path)  # the same .json as the weights'
    if record.is_file():
        metadata = read_metadata(onnx_path, arch)
        try:
            embedded = backend.metadata()
        except WeightsError:  # an older package's record, which this one no longer reads
            embedded = None
        if derived and weights.is_file() and (embedded is None or embedded.to_dict() != metadata.to_dict()):
            _export(weights, onnx_path, arch, f"is out of date (its metadata differs from {record.name})")
            backend = OnnxBackend(onnx_path, threads=threads)
    else:
        embedded = backend.metadata()
        if embedded is None:
            raise WeightsError(
                f"{onnx_path} has no metadata: export it with `python -m digit_detector export` "
                f"or put {record.name} beside it."
            )
        metadata = embedded
    if arch is not None and arch != metadata.model.name:
        raise WeightsError(f"{onnx_path} holds a {metadata.model.name} model, not {arch}.")
    return backend, metadata


class OnnxNamer:
    """A Namer (see detector.py) running the crop classifier's ONNX export (crops included)."""

    def __init__(self, path: Path | str, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = open_session(self.path, threads)

    def record(self) -> dict[str, object] | None:
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        return None if text is None else dict(json.loads(text))

    def __call__(self, images: object, boxes: ArrayT, image_index: object) -> ArrayT:
        """Class probabilities ``(K, C)`` (``C + 1`` with a reject output) of ``boxes`` (``(K, 4)``, input
        pixels) in the images they index, as the kind of array ``boxes`` is."""
        feeds: dict[str, np.ndarray] = {
            "images": _as_numpy(images, np.float32),
            "boxes": _as_numpy(boxes, np.float32),
            "image_index": _as_numpy(image_index, np.int64),
        }
        if len(feeds["boxes"]) == 0:  # onnxruntime's RoiAlign wants at least one box
            return _like(np.zeros((0, int(self.session.get_outputs()[0].shape[1])), np.float32), boxes)
        (probs,) = self.session.run(None, feeds)
        return _like(probs, boxes)


def load_onnx_namer(namer_weights: Path, *, threads: int | None = None) -> OnnxNamer:
    """The ONNX crop classifier beside ``namer_weights`` (``.onnx``), exported first (said on stderr) when
    it is missing, its embedded record differs from the weights' ``.json``, or it cuts its crops by other
    rules than this package (``second_stage.CROP_RULES``: an export of an older package)."""
    from digit_detector.second_stage import CROP_RULES

    onnx_path = namer_weights.with_suffix(".onnx")
    record_path = metadata_path(namer_weights)
    expected = (
        {**json.loads(record_path.read_text()), "crop_rules": CROP_RULES} if record_path.is_file() else None
    )
    namer = OnnxNamer(onnx_path, threads=threads) if onnx_path.is_file() else None
    stale = (
        namer is not None and namer_weights.is_file() and expected is not None and namer.record() != expected
    )
    if namer is None or stale:
        check_readable(namer_weights)
        from digit_detector.export import export_namer  # needs the onnx package

        print(
            f"{onnx_path} is missing or out of date: exporting it from {namer_weights} ...", file=sys.stderr
        )
        export_namer(namer_weights, onnx_path)
        namer = OnnxNamer(onnx_path, threads=threads)
    return namer

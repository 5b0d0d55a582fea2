"""Export weights to ONNX: the network *and* :func:`digit_detector.decode.decode` in one graph.

The graph maps ``images`` ``(N, 3, S, S)`` (``pixel/255``, RGB) to ``detections`` ``(N, K, 5 + C)``:
``x1, y1, x2, y2`` in model-input pixels, objectness probability, class probabilities; the batch axis
is dynamic. Thresholding and NMS stay in Python (:func:`digit_detector.decode.select`). The weights'
metadata is stored in the model's ``metadata_props`` under :data:`METADATA_KEY`, so a ``.onnx`` file
describes itself. ``python -m digit_detector export --format onnx [--weights FILE] [--out FILE]``.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from digit_detector.decode import decode
from digit_detector.models import YoloModel
from digit_detector.weights import (
    WeightsError,
    WeightsMetadata,
    default_weights_path,
    load_weights,
)

METADATA_KEY = "digit_detector"
INPUT_NAME = "images"
OUTPUT_NAME = "detections"
DEFAULT_OPSET = 17


class DecodedModel(nn.Module):
    """The network followed by ``decode``: ``(N, 3, S, S)`` -> decoded rows ``(N, K, 5 + C)``."""

    def __init__(self, model: YoloModel) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("anchors", torch.tensor(model.config.anchors, dtype=torch.float32))
        self.input_size = model.config.input_size
        self.xy_scale = model.config.xy_scale

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        anchors: torch.Tensor = self.anchors  # type: ignore[assignment]
        return decode(self.model(images), anchors, self.input_size, self.xy_scale)


def onnx_path_for(weights: Path) -> Path:
    """Where the ONNX export of ``weights`` lives: beside it, suffix ``.onnx``."""
    return Path(weights).with_suffix(".onnx")


def _traced_to_onnx(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    out: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
    record: dict[str, Any],
    doc: str,
    finish: Callable[[Any], None] | None = None,
) -> Path:
    """Trace ``module`` to ``out``, let ``finish`` adjust the proto, embed ``record`` (JSON, under
    :data:`METADATA_KEY`) and check the model with onnx.checker. Written to a temporary file and renamed, so
    an interrupted export never leaves a broken ``.onnx``."""
    try:
        import onnx
    except ImportError as error:
        raise WeightsError(
            "Exporting to ONNX needs the onnx package: pip install -r requirements-dev.txt."
        ) from error
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".onnx.tmp", dir=out.parent)
    os.close(handle)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings about shapes read as Python ints
            torch.onnx.export(
                module,
                example,
                temporary,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(temporary)
        if finish is not None:
            finish(proto)
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(record)
        proto.doc_string = doc
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, temporary)
        os.replace(temporary, out)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return out


def export_model(model: YoloModel, metadata: WeightsMetadata, out: Path, opset: int = DEFAULT_OPSET) -> Path:
    """Export a loaded model (+ decode) to ``out``, check it with onnx.checker and embed ``metadata``."""
    wrapper = DecodedModel(model.cpu()).eval()
    size = metadata.model.input_size
    example = torch.zeros(2, 3, size, size)  # batch 2, so the trace cannot specialise on a batch of one
    with torch.no_grad():
        rows, channels = wrapper(example[:1]).shape[1:]

    def fix_output_shape(proto: Any) -> None:
        dims = proto.graph.output[0].type.tensor_type.shape.dim
        dims[1].dim_value, dims[2].dim_value = rows, channels  # the tracer leaves them symbolic

    return _traced_to_onnx(
        wrapper,
        (example,),
        out,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset=opset,
        record=metadata.to_dict(),
        doc=f"digit_detector {metadata.model.name} {metadata.version}: images -> decoded detections",
        finish=fix_output_shape,
    )


NAMER_INPUTS = ["images", "boxes", "image_index"]
NAMER_OUTPUT = "class_probs"


def export_namer(namer_weights: Path, out: Path | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Export the crop classifier, its crops (:mod:`digit_detector.crops`) included, to ONNX: ``images (N,
    3, S, S)``, ``boxes (K, 4)``, ``image_index (K,)`` -> ``class_probs (K, C)`` (``C + 1`` with a reject
    output); its JSON record is embedded, with the crop rules it cuts by (``second_stage.CROP_RULES``)."""
    from digit_detector.naming import BoxNamer, load_namer
    from digit_detector.second_stage import CROP_RULES

    namer_weights = Path(namer_weights)
    classifier, record = load_namer(namer_weights)
    example = (
        torch.rand(2, 3, 192, 192),
        torch.tensor([[10.0, 20, 60, 90], [100, 40, 150, 180], [5, 5, 30, 30]]),
        torch.tensor([0, 1, 1]),
    )
    return _traced_to_onnx(
        BoxNamer(classifier.cpu()).eval(),
        example,
        Path(out) if out is not None else onnx_path_for(namer_weights),
        input_names=NAMER_INPUTS,
        output_names=[NAMER_OUTPUT],
        dynamic_axes={
            "images": {0: "batch"},
            "boxes": {0: "boxes"},
            "image_index": {0: "boxes"},
            NAMER_OUTPUT: {0: "boxes"},
        },
        opset=opset,
        record={**record, "crop_rules": CROP_RULES},
        doc="digit_detector crop classifier: images, boxes -> class probabilities",
    )


def export_onnx(
    weights: Path | None,
    out: Path | None = None,
    opset: int = DEFAULT_OPSET,
    *,
    arch: str | None = None,
) -> Path:
    """Export ``weights`` (default: the shipped model) to ``out`` (default: beside it, ``.onnx``); a
    second stage named in the weights' metadata is exported beside its own weights too."""
    path = Path(weights) if weights is not None else default_weights_path()
    model, metadata = load_weights(path, arch)
    written = export_model(model, metadata, Path(out) if out is not None else onnx_path_for(path), opset)
    if metadata.namer:
        export_namer(path.parent / metadata.namer, opset=opset)
    return written

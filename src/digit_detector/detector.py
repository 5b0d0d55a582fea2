"""The one inference path: image -> preprocess -> model -> decode -> NMS -> detections (+ the number)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from digit_detector.decode import decode, select
from digit_detector.models import YoloModel
from digit_detector.preprocess import ImageLike, preprocess
from digit_detector.reading import read_number
from digit_detector.weights import WeightsMetadata, load_weights

# A backend maps a (N, 3, S, S) input batch to decoded rows (N, K, 5 + C); see decode.decode.
Backend = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Detection:
    """One drawn object: its class, confidence and box (x1, y1, x2, y2) in the input image's pixels."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]


@dataclass
class DetectionResult:
    """Everything detected in one image, best score first, and the number the digits spell."""

    detections: list[Detection]
    number: str
    image_size: tuple[int, int]  # (width, height)
    ms: float  # preprocess + model + decode/NMS, milliseconds
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self, image: str) -> dict[str, Any]:
        """The CLI's JSON record for this image."""
        return {
            "image": image,
            "detections": [
                {**asdict(d), "score": round(d.score, 4), "box": [round(v, 1) for v in d.box]}
                for d in self.detections
            ],
            "number": self.number,
            "ms": round(self.ms, 2),
        }


class TorchBackend:
    """Runs the PyTorch model and decodes its heads."""

    def __init__(self, model: YoloModel, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.device = device
        config = model.config
        self.anchors = torch.tensor(config.anchors, dtype=torch.float32, device=device)
        self.input_size = config.input_size
        self.xy_scale = config.xy_scale

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        outputs = self.model(batch.to(self.device))
        return decode(outputs, self.anchors, self.input_size, self.xy_scale).cpu()


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Detector:
    """Finds and names every drawn object in an image.

    >>> detector = Detector.from_weights()            # the shipped model  # doctest: +SKIP
    >>> result = detector(canvas_rgba)                 # numpy/PIL, RGBA/RGB/gray, any size  # doctest: +SKIP
    >>> result.number, result.detections[0].label     # doctest: +SKIP
    """

    def __init__(
        self,
        backend: Backend,
        metadata: WeightsMetadata,
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        class_agnostic: bool = True,
    ) -> None:
        self.backend = backend
        self.metadata = metadata
        self.score_threshold = metadata.score_threshold if score_threshold is None else score_threshold
        self.iou_threshold = metadata.iou_threshold if iou_threshold is None else iou_threshold
        self.class_agnostic = class_agnostic
        # applied to the shown detections only (class-agnostic mode), not to the low-threshold ones of mAP
        self.containment_threshold = metadata.containment_threshold if class_agnostic else None

    @classmethod
    def from_weights(
        cls,
        path: Path | str | None = None,
        *,
        arch: str | None = None,
        device: str | torch.device | None = None,
        backend: str = "torch",
        **options: Any,
    ) -> Detector:
        """Load weights (default: the shipped model) and wrap them for inference.

        ``backend="onnx"`` runs ``<weights>.onnx`` (or a ``.onnx`` path) on the CPU with onnxruntime,
        exporting it first when it is missing; ``device`` then does not apply.
        """
        if backend == "onnx":
            from digit_detector.onnx_backend import load_onnx_backend

            onnx_backend, onnx_metadata = load_onnx_backend(path, arch)
            return cls(onnx_backend, onnx_metadata, **options)
        if backend != "torch":
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        model, metadata = load_weights(path, arch)
        return cls(
            TorchBackend(model, torch.device(device) if device else default_device()), metadata, **options
        )

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.metadata.class_names

    def decode_batch(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """One forward pass over several images through the shared preprocessing: decoded rows
        ``(N, K, 5 + C)`` with boxes in model-input pixels, for callers that select them themselves."""
        size = self.metadata.model.input_size
        return self.backend(torch.cat([preprocess(image, size)[0] for image in images]))

    def __call__(
        self,
        image: ImageLike,
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        suppress_contained: bool = True,
    ) -> DetectionResult:
        """Detect the objects in one image; thresholds default to the detector's.

        ``suppress_contained=False`` keeps boxes that lie mostly inside a larger one (the containment
        rule of the weights' metadata is then skipped for this call).
        """
        start = time.perf_counter()
        batch, letterbox = preprocess(image, self.metadata.model.input_size)
        preprocessed = time.perf_counter()
        decoded = self.backend(batch)
        inferred = time.perf_counter()
        found = select(
            decoded,
            self.score_threshold if score_threshold is None else score_threshold,
            self.iou_threshold if iou_threshold is None else iou_threshold,
            self.class_agnostic,
            containment_threshold=self.containment_threshold if suppress_contained else None,
        )[0]
        boxes = letterbox.to_original(found.boxes)
        detections = [
            Detection(
                label=self.class_names[class_id],
                class_id=class_id,
                score=score,
                box=(box[0], box[1], box[2], box[3]),
            )
            for class_id, score, box in zip(
                found.class_ids.tolist(), found.scores.tolist(), boxes.tolist(), strict=True
            )
        ]
        number = read_number([d.class_id for d in detections], boxes.numpy())
        done = time.perf_counter()
        height, width = letterbox.original_size
        return DetectionResult(
            detections=detections,
            number=number,
            image_size=(width, height),
            ms=(done - start) * 1000,
            timings_ms={
                "preprocess": (preprocessed - start) * 1000,
                "model": (inferred - preprocessed) * 1000,
                "postprocess": (done - inferred) * 1000,
            },
        )

"""The one inference path: image -> preprocess -> model -> decode -> NMS -> detections (+ the number).

The results (:class:`Detection`, :class:`DetectionResult`) live in :mod:`digit_detector.results` and are
re-exported here.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import NDArray

from digit_detector.decode import SURE_NAME, RawDetections, as_numpy, contained, select
from digit_detector.devices import resolve_device, resolve_precision
from digit_detector.ink import fit_boxes_to_ink
from digit_detector.io import read_image
from digit_detector.preprocess import ImageLike, Letterbox, preprocess_array, to_rgb
from digit_detector.reading import read_number
from digit_detector.results import Detection, DetectionResult
from digit_detector.second_stage import (
    RUNNER_UP_MIN_PROBABILITY,
    Namer,
    TorchNamer,
    apply_log_bias,
    lone_look_probabilities,
    lone_other_as_digit,
    name_boxes,
    name_probabilities,
    others_in_lines_as_digits,
    split_rejection,
)
from digit_detector.weights import WeightsMetadata, default_weights_path, load_weights

if TYPE_CHECKING:  # torch is imported by the torch backend only: the onnx backend serves without it
    import torch


# A backend maps a (N, 3, S, S) float32 input batch (the Detector gives a numpy array; the shipped backends
# also take tensors) to decoded rows (N, K, 5 + C) (see decode.decode): a torch tensor (TorchBackend) or a
# numpy array (OnnxBackend); selection and naming follow that kind.
Backend = Callable[[Any], Any]
# What the detector takes: an image (numpy/PIL), or the path of an image file (read with io.read_image).
ImageInput = ImageLike | str | Path


# Names a canvas's lone box again (Detector.shown): the box's detection in, its new name out.
LoneLook = Callable[[Detection], Detection]
# An image's model input and letterbox, where they were made already (None: made again when needed).
UprightInput = tuple[NDArray[np.float32], Letterbox] | None

BACKEND_ENV = "DIGIT_DETECTOR_BACKEND"  # names the backend used when none is given: "torch" or "onnx"
BACKENDS = ("torch", "onnx")


def torch_installed() -> bool:
    """Whether PyTorch can be imported here (looked up, not imported: that takes seconds and memory)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def default_backend() -> str:
    """The backend used when none is named: ``$DIGIT_DETECTOR_BACKEND`` ("torch" or "onnx"), else torch
    where it is installed and onnx where it is not (an install from requirements-onnx.txt)."""
    chosen = os.environ.get(BACKEND_ENV, "").strip().lower()
    if not chosen:
        return "torch" if torch_installed() else "onnx"
    if chosen not in BACKENDS:
        raise ValueError(f"${BACKEND_ENV} must be one of {', '.join(BACKENDS)}, got {chosen!r}")
    return chosen


def check_threshold(name: str, value: float | None) -> float | None:
    """``value`` as a float when it is a finite number from 0 to 1 (None passes: the default); ValueError
    naming ``name`` otherwise."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    return number


class Detector:
    """Finds and names every drawn object in an image.

    >>> detector = Detector.from_weights()      # the shipped model  # doctest: +SKIP
    >>> result = detector(canvas_rgba)          # numpy/PIL (RGBA/RGB/gray), or a path  # doctest: +SKIP
    >>> result.number, result.detections[0].label  # doctest: +SKIP
    >>> results = detector(["a.png", "b.png"])  # a list: one batch, a list of results  # doctest: +SKIP
    >>> results[0].save("a_annotated.png")      # the app's picture of it  # doctest: +SKIP
    """

    def __init__(
        self,
        backend: Backend,
        metadata: WeightsMetadata,
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        class_agnostic: bool = True,
        namer: Namer | None = None,
        fit_to_ink: bool = True,
    ) -> None:
        score_threshold = check_threshold("score_threshold", score_threshold)
        iou_threshold = check_threshold("iou_threshold", iou_threshold)
        self.backend = backend
        self.namer = namer
        self.metadata = metadata
        self.score_threshold = metadata.score_threshold if score_threshold is None else score_threshold
        self.iou_threshold = metadata.iou_threshold if iou_threshold is None else iou_threshold
        self.class_agnostic = class_agnostic
        # found boxes snapped to the ink they cover before they are named (see digit_detector.ink)
        self.fit_to_ink = fit_to_ink
        # applied to the shown detections only (class-agnostic mode), not to the low-threshold ones of mAP
        self.containment_threshold = metadata.containment_threshold if class_agnostic else None
        self.namer_log_bias = np.array(
            [metadata.namer_log_bias.get(name, 0.0) for name in metadata.class_names], dtype=np.float32
        )

    @classmethod
    def from_weights(
        cls,
        path: Path | str | None = None,
        *,
        arch: str | None = None,
        device: str | torch.device | None = None,
        backend: str | None = None,
        precision: str | None = None,
        **options: Any,
    ) -> Detector:
        """Load weights (default: the shipped model) and wrap them for inference.

        ``backend="onnx"`` runs ``<weights>.onnx`` (or a ``.onnx`` path) on the CPU with onnxruntime,
        exporting it first when it is missing; ``device`` then does not apply, and nothing imports torch
        (unless it has to export). The default backend is :func:`default_backend`'s
        (``$DIGIT_DETECTOR_BACKEND``, else torch where it is installed). ``precision`` ("auto", "float32" or
        "bfloat16") is the torch networks' (:func:`~digit_detector.devices.resolve_precision`: by default
        ``$DIGIT_DETECTOR_PRECISION``, else bfloat16 on a CPU with AMX and float32 elsewhere).

        ``WeightsError`` when the weights cannot be used, ``DeviceError`` when ``device`` cannot be (see
        :func:`resolve_device`), ``ValueError`` for a threshold that is not a number from 0 to 1; the
        thresholds are checked before anything is loaded.
        """
        for name in ("score_threshold", "iou_threshold"):
            check_threshold(name, options.get(name))
        backend = default_backend() if backend is None else backend
        weights = Path(path) if path is not None else default_weights_path()
        if backend == "onnx":
            from digit_detector.onnx_backend import load_onnx_backend, load_onnx_namer

            onnx_backend, onnx_metadata = load_onnx_backend(weights, arch)
            onnx_namer = (
                load_onnx_namer(weights.parent / onnx_metadata.namer) if onnx_metadata.namer else None
            )
            return cls(onnx_backend, onnx_metadata, namer=onnx_namer, **options)
        if backend != "torch":
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        from digit_detector.naming import load_namer
        from digit_detector.torch_backend import TorchBackend

        target = resolve_device(device)  # before the weights: a wrong device is said without loading them
        dtype = resolve_precision(precision, target)
        model, metadata = load_weights(weights, arch)
        namer = (
            TorchNamer(load_namer(weights.parent / metadata.namer)[0], target, dtype)
            if metadata.namer
            else None
        )
        return cls(TorchBackend(model, target, dtype), metadata, namer=namer, **options)

    def _fitted_to_ink(
        self, found: RawDetections[NDArray[Any]], letterbox: Letterbox, rgb: NDArray[np.uint8]
    ) -> RawDetections[NDArray[Any]]:
        """``found`` with its boxes fitted to the ink of the original image ``rgb`` (in input pixels)."""
        if not len(found.boxes):
            return found
        fitted = letterbox.to_input(fit_boxes_to_ink(rgb, letterbox.to_original(found.boxes)))
        return replace(found, boxes=fitted.astype(found.boxes.dtype))

    def _detections(
        self,
        batch: NDArray[np.float32],
        found: RawDetections[NDArray[Any]],
        letterbox: Letterbox,
        rgb: NDArray[np.uint8],
        all_classes: bool,
        containment: float | None,
        score_threshold: float,
    ) -> list[Detection]:
        """The selected boxes as Detections in original-image pixels (fitted to the ink when the detector
        does that), named by the namer if there is one, without the parts of larger ones at
        ``containment`` (:meth:`drop_contained`; with ``all_classes``, decided before each box is listed
        once per class). A rejecting namer's "not one whole object" is taken off each box's objectness
        (:func:`~digit_detector.second_stage.split_rejection`), and the boxes it leaves under
        ``score_threshold`` go."""
        if self.fit_to_ink:
            found = self._fitted_to_ink(found, letterbox, rgb)
        boxes = letterbox.to_original(found.boxes).tolist()
        if self.namer is None:
            plain = [
                Detection(
                    self.class_names[class_id], class_id, score, (b[0], b[1], b[2], b[3]), objectness=obj
                )
                for class_id, score, b, obj in zip(
                    found.class_ids.tolist(),
                    found.scores.tolist(),
                    boxes,
                    found.objectness.tolist(),
                    strict=True,
                )
            ]
            return self.shown(plain, containment)
        probs, whole = split_rejection(
            name_probabilities(self.namer, batch, found.boxes), len(self.class_names)
        )
        found = replace(found, objectness=found.objectness * whole)
        named = name_boxes(found, apply_log_bias(probs, self.namer_log_bias))
        named_columns = (named.class_ids, named.scores, named.runner_up_ids, named.runner_up_scores)
        columns = (*named_columns, found.objectness)
        detections = [  # each row in named_detection's order: name, score, runner-up, its score, objectness
            self.named_detection((b[0], b[1], b[2], b[3]), *row)
            for b, *row in zip(boxes, *(column.tolist() for column in columns), strict=True)
        ]
        shown = [i for i, d in enumerate(detections) if (d.objectness or 0.0) >= score_threshold]
        order = sorted(shown, key=lambda i: -detections[i].score)  # stable: ties by box
        detections = [detections[i] for i in order]
        if not all_classes:
            upright = (batch, letterbox)
            return self.shown(detections, containment, lambda lone: self.looked_again(lone, rgb, upright))
        dropped = self.contained_mask(detections, containment)
        return [  # each kept box once per class, decided before the expansion (no box meets its own copies)
            Detection(self.class_names[class_id], class_id, score, d.box, objectness=d.objectness)
            for d, row, drop in zip(detections, named.class_scores[order].tolist(), dropped, strict=True)
            if not drop
            for class_id, score in enumerate(row)
            if score > 0.0
        ]

    def _best_guess(
        self,
        decoded: Any,
        batch: NDArray[np.float32],
        letterbox: Letterbox,
        rgb: NDArray[np.uint8],
        score_threshold: float,
        iou_threshold: float | None,
    ) -> list[Detection]:
        """:meth:`best_guess` for one image that shows nothing: its boxes selected again down to the
        weights' ``best_guess_min_objectness`` and named (nothing is selected again without that field)."""
        floor = self._best_guess_floor(score_threshold)
        if floor is None:
            return []
        (found,) = self.select_boxes(decoded, floor, iou_threshold)
        return self.best_guess(
            self._detections(batch, found, letterbox, rgb, False, None, floor),
            score_threshold,
            lambda lone: self.looked_again(lone, rgb, (batch, letterbox)),
        )

    def threshold_value(self, detection: Detection) -> float:
        """What the score threshold is compared with: objectness with a namer, else the score."""
        if self.namer is not None and detection.objectness is not None:
            return detection.objectness
        return detection.score

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.metadata.class_names

    def decode_batch(self, images: Sequence[ImageLike]) -> Any:
        """One forward pass over several images through the shared preprocessing: decoded rows
        ``(N, K, 5 + C)`` with boxes in model-input pixels (the backend's kind: a tensor for the torch
        backend, a numpy array for onnx), for callers that select them themselves."""
        size = self.metadata.model.input_size
        return self.backend(np.concatenate([preprocess_array(image, size)[0] for image in images]))

    def select_boxes(
        self, decoded: Any, score_threshold: float | None, iou_threshold: float | None
    ) -> list[RawDetections[Any]]:
        """Threshold and NMS per image; by objectness when a namer names the boxes."""
        return select(
            decoded,
            self.score_threshold if score_threshold is None else score_threshold,
            self.iou_threshold if iou_threshold is None else iou_threshold,
            self.class_agnostic or self.namer is not None,
            rank_by="score" if self.namer is None else "objectness",
        )

    def shown(
        self, detections: list[Detection], containment: float | None, look: LoneLook | None = None
    ) -> list[Detection]:
        """What is shown of ``detections`` (those over the score threshold, best first): without the parts of
        larger ones (:meth:`drop_contained`); a lone box named again by ``look`` (the weights' lone looks at
        it, :meth:`looked_again`); and a lone `other` whose runner-up digit the namer gives at least the
        weights' ``lone_digit_min_probability`` named that digit
        (:func:`~digit_detector.second_stage.lone_other_as_digit`), as is an `other` in a row of digits
        (:func:`~digit_detector.second_stage.others_in_lines_as_digits`)."""
        kept = self.drop_contained(detections, containment)
        if len(kept) == 1 and look is not None:
            kept = [look(kept[0])]
        min_probability = self.metadata.lone_digit_min_probability
        kept = lone_other_as_digit(kept, self.class_names, min_probability)
        return others_in_lines_as_digits(kept, self.class_names, min_probability)

    def lone_look_probabilities(
        self, box: tuple[float, float, float, float], rgb: NDArray[np.uint8], upright: UprightInput = None
    ) -> NDArray[np.float64] | None:
        """The class probabilities ``(C,)`` (log-prior applied) of ``box`` in the RGB image ``rgb`` from the
        weights' ``lone_looks`` (:func:`~digit_detector.second_stage.lone_look_probabilities`; ``upright``:
        the image's model input and letterbox, when made already); None without lone looks or a namer."""
        looks = self.metadata.lone_looks
        if looks is None or self.namer is None:
            return None
        size = self.metadata.model.input_size
        probs = lone_look_probabilities(self.namer, rgb, box, looks, size, upright)
        class_probs, _ = split_rejection(probs, len(self.class_names))
        return np.asarray(apply_log_bias(class_probs, self.namer_log_bias), dtype=np.float64)[0]

    def looks_again_at(self, detection: Detection) -> bool:
        """Whether the weights' lone looks name ``detection`` again (when it is a canvas's lone box): with a
        namer, when its name's probability is under :data:`~digit_detector.decode.SURE_NAME`. Every name
        the looks changed on both validation splits had a probability under 0.6, so a sure name costs no
        more time."""
        if self.metadata.lone_looks is None or self.namer is None:
            return False
        return bool(detection.objectness) and detection.name_probability < SURE_NAME

    def looked_again(
        self, detection: Detection, rgb: NDArray[np.uint8], upright: UprightInput = None
    ) -> Detection:
        """``detection`` named from :meth:`lone_look_probabilities` (objectness kept; the runner-up as the
        namer's own rule gives it) when :meth:`looks_again_at` it; else as it is."""
        if not self.looks_again_at(detection):
            return detection
        row = self.lone_look_probabilities(detection.box, rgb, upright)
        return detection if row is None else self.renamed(detection, row)

    def named_detection(
        self,
        box: tuple[float, float, float, float],
        class_id: int,
        score: float,
        runner_up_id: int,
        runner_up_score: float,
        objectness: float,
    ) -> Detection:
        """A named box: scores are objectness x probability; the runner-up is kept where its probability is
        at least :data:`~digit_detector.second_stage.RUNNER_UP_MIN_PROBABILITY` ("4 or 9")."""
        hesitant = runner_up_score >= RUNNER_UP_MIN_PROBABILITY * objectness
        return Detection(
            self.class_names[class_id],
            class_id,
            score,
            box,
            runner_up=self.class_names[runner_up_id] if hesitant else None,
            runner_up_score=runner_up_score if hesitant else None,
            objectness=objectness,
        )

    def renamed(self, detection: Detection, class_probs: NDArray[np.float64]) -> Detection:
        """``detection`` named by ``class_probs`` ``(C,)`` (:meth:`named_detection`), its box and
        objectness kept."""
        best, second = (int(i) for i in np.argsort(-class_probs, kind="stable")[:2])
        objectness = detection.objectness or 0.0
        return self.named_detection(
            detection.box,
            best,
            objectness * float(class_probs[best]),
            second,
            objectness * float(class_probs[second]),
            objectness,
        )

    def _best_guess_floor(self, score_threshold: float) -> float | None:
        """The weights' ``best_guess_min_objectness`` where a best guess can show more than
        ``score_threshold`` does: with a namer and under the threshold; None otherwise."""
        floor = self.metadata.best_guess_min_objectness
        return floor if floor is not None and self.namer is not None and floor < score_threshold else None

    def best_guess(
        self, candidates: list[Detection], score_threshold: float, look: LoneLook | None = None
    ) -> list[Detection]:
        """What a canvas that shows nothing at ``score_threshold`` shows instead: the most likely of
        ``candidates`` (by :meth:`threshold_value`) when it reaches the weights'
        ``best_guess_min_objectness``, as a lone box (:meth:`shown`); ``[]`` without that field or a namer,
        or when the threshold is no higher than it. A clear digit drawn the whole canvas tall can score
        under the threshold (objectness 0.35-0.45) while nothing else is drawn: it gets this answer instead
        of none."""
        floor = self._best_guess_floor(score_threshold)
        reached = [] if floor is None else [d for d in candidates if self.threshold_value(d) >= floor]
        if not reached:
            return []
        return self.shown([max(reached, key=self.threshold_value)], None, look)

    def drop_contained(self, detections: list[Detection], threshold: float | None) -> list[Detection]:
        """``detections`` without the parts of larger ones (:func:`~digit_detector.decode.contained`, by
        box, score and name); all of them when ``threshold`` is None.

        The score, not objectness alone: with a namer it is objectness x the namer's probability, so a box
        that spans two touching digits (sure it holds ink, unsure what it is) loses to the digits inside it
        that the namer is sure of, instead of hiding them. The probability of each name (score over
        objectness) tells a touching neighbour from a part."""
        drop = self.contained_mask(detections, threshold)
        return [d for d, dropped in zip(detections, drop, strict=True) if not dropped]

    def contained_mask(self, detections: list[Detection], threshold: float | None) -> list[bool]:
        """Which of ``detections`` :meth:`drop_contained` drops (none when ``threshold`` is None): the parts
        :func:`~digit_detector.decode.contained` finds, less those the weights' keep rule
        (:class:`~digit_detector.containment.KeepRule`) takes for whole objects."""
        if threshold is None or len(detections) < 2:
            return [False] * len(detections)
        boxes = np.array([d.box for d in detections], np.float32)
        class_ids = np.array([d.class_id for d in detections], dtype=np.int64)
        name_probs = np.array([d.name_probability for d in detections], np.float32)
        mask = contained(
            boxes, threshold, np.array([d.score for d in detections], np.float32), class_ids, name_probs
        )
        rule = self.metadata.containment_keep
        if rule is not None and mask.any():
            objectness = np.array([d.objectness or 0.0 for d in detections], np.float64)
            mask &= ~rule.keep(boxes, objectness, name_probs, class_ids, mask, threshold)
        dropped: list[bool] = mask.tolist()
        return dropped

    def reselect(
        self,
        result: DetectionResult,
        score_threshold: float,
        containment_threshold: float | None = None,
    ) -> DetectionResult:
        """``result`` (made at a lower threshold) as this detector shows it at ``score_threshold``:
        detections kept by :meth:`threshold_value` and :meth:`shown` (boxes mostly inside a larger one
        dropped when ``containment_threshold`` is given), and the number read again. Evaluation replays one
        forward pass at many thresholds with this instead of running the model again. A lone box is looked
        at again (:meth:`looked_again`) in the image the result keeps (``orig_img``); evaluation's stored
        results keep none (thousands of images), so its replays name a lone box as it was found."""
        check_threshold("score_threshold", score_threshold)
        kept = [d for d in result.detections if self.threshold_value(d) >= score_threshold]
        image = result.orig_img
        look = None if image is None else lambda lone: self.looked_again(lone, to_rgb(image))
        shown = self.shown(kept, containment_threshold, look) or self.best_guess(
            result.detections, score_threshold, look
        )
        return result.with_detections(shown)

    def detect_batch(
        self, images: Sequence[ImageInput], *, score_threshold: float | None = None
    ) -> list[list[Detection]]:
        """The detections of several images from one forward pass, selected and named as :meth:`__call__`
        does (default thresholds, containment on)."""
        return [result.detections for result in self._results(images, score_threshold=score_threshold)]

    def _results(
        self,
        images: Sequence[ImageInput],
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        suppress_contained: bool = True,
        all_classes: bool = False,
    ) -> list[DetectionResult]:
        """One forward pass over ``images`` (paths are read first); each result's times are the batch's
        shared equally."""
        check_threshold("score_threshold", score_threshold)
        check_threshold("iou_threshold", iou_threshold)
        if not images:
            return []
        start = time.perf_counter()
        loaded = [read_image(Path(image)) if isinstance(image, str | Path) else image for image in images]
        rgbs = [to_rgb(image) for image in loaded]
        prepared = [preprocess_array(rgb, self.metadata.model.input_size) for rgb in rgbs]
        batch = np.concatenate([array for array, _ in prepared])
        preprocessed = time.perf_counter()
        # what follows the network runs in numpy on both backends: torch's per-call cost on these few boxes
        # made the PyTorch pipeline's selection, naming and rules about 0.7 ms slower (docs/experiments.md)
        decoded = as_numpy(self.backend(batch))
        inferred = time.perf_counter()
        found = self.select_boxes(decoded, score_threshold, iou_threshold)
        containment = self.containment_threshold if suppress_contained else None
        threshold = self.score_threshold if score_threshold is None else score_threshold
        named = []
        for i, (_, letterbox) in enumerate(prepared):
            detections = self._detections(
                batch[i : i + 1], found[i], letterbox, rgbs[i], all_classes, containment, threshold
            )
            if not detections and not all_classes:
                detections = self._best_guess(
                    decoded[i : i + 1], batch[i : i + 1], letterbox, rgbs[i], threshold, iou_threshold
                )
            boxes = np.asarray([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
            named.append((detections, read_number([d.class_id for d in detections], boxes), letterbox))
        done = time.perf_counter()
        share = 1000 / len(loaded)
        results = []
        for image, (detections, number, letterbox) in zip(loaded, named, strict=True):
            height, width = letterbox.original_size
            results.append(
                DetectionResult(
                    detections=detections,
                    number=number,
                    image_size=(width, height),
                    ms=(done - start) * share,
                    timings_ms={
                        "preprocess": (preprocessed - start) * share,
                        "model": (inferred - preprocessed) * share,
                        "postprocess": (done - inferred) * share,
                    },
                    orig_img=image,
                )
            )
        return results

    @overload
    def __call__(
        self,
        image: ImageInput,
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        suppress_contained: bool = True,
        all_classes: bool = False,
    ) -> DetectionResult: ...

    @overload
    def __call__(
        self,
        image: list[ImageInput] | tuple[ImageInput, ...],
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        suppress_contained: bool = True,
        all_classes: bool = False,
    ) -> list[DetectionResult]: ...

    def __call__(
        self,
        image: ImageInput | list[ImageInput] | tuple[ImageInput, ...],
        *,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
        suppress_contained: bool = True,
        all_classes: bool = False,
    ) -> DetectionResult | list[DetectionResult]:
        """Detect the objects in one image; thresholds default to the detector's.

        ``image`` is a numpy array or PIL image (RGBA/RGB/gray, any size) or the path of an image file
        (read with :func:`digit_detector.io.read_image`; ``ImageInputError`` if it cannot be). A list (or
        tuple) of them runs as one batch and gives a list of results, one per image, equal to calling once
        per image.

        With a namer (the weights' second stage) the threshold applies to objectness and every box found
        is named by the crop classifier, with a runner-up when it hesitates. ``suppress_contained=False``
        keeps boxes that lie mostly inside a larger one (the containment rule of the weights' metadata is
        then skipped for this call). ``all_classes=True`` (for mAP only) lists each named box once per
        class, scored objectness x that class's probability.
        """
        options: dict[str, Any] = {
            "score_threshold": score_threshold,
            "iou_threshold": iou_threshold,
            "suppress_contained": suppress_contained,
            "all_classes": all_classes,
        }
        if isinstance(image, list | tuple):
            return self._results(image, **options)
        return self._results([image], **options)[0]

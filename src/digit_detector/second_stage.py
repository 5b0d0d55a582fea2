"""The second stage: a crop classifier names every box the detector finds (:class:`TorchNamer` runs the
PyTorch one; ``onnx_backend.load_onnx_namer`` the exported one). Tensors or numpy arrays alike, so the onnx
serving path never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from digit_detector.boxes import is_tensor, scale_xyxy, shift_xyxy
from digit_detector.classes import is_digit
from digit_detector.decode import SURE_NAME, ArrayT, RawDetections
from digit_detector.preprocess import Letterbox, on_each_channel, preprocess_array
from digit_detector.reading import group_lines
from digit_detector.results import Detection

if TYPE_CHECKING:
    import torch

    from digit_detector.naming import Namer as Classifier

# A namer maps (a (N, 3, S, S) input batch, boxes (K, 4) in input pixels as the backend's kind, image index
# (K,)) to class probabilities (K, C), or (K, C + 1) for a namer with the reject output (see
# split_rejection), of the boxes' kind.
Namer = Callable[[Any, Any, Any], Any]

# How naming.classifier_input cuts crops, numbered (bump it when the crops change): an exported (ONNX) namer
# records the rules its graph cuts by and is exported again when they differ from this package's. 2 (4.7.0):
# each crop's darkest pixel made black, a thin box's window at least a pixel wide. 3 (4.29.0): the same
# crops cut as two matrix products (digit_detector.crops) instead of roi_align (12 crops of a 144 px square:
# 3.7 -> 0.9 ms on PyTorch).
CROP_RULES = 3

# the second most likely class is reported when the namer gives it at least this probability ("4 or 9")
RUNNER_UP_MIN_PROBABILITY = 0.2


class CropLook(NamedTuple):
    """One more crop of a box: the box scaled by ``scale`` about its centre, then moved by ``dx`` and ``dy``
    times its longer side."""

    scale: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def of(self, boxes: ArrayT) -> ArrayT:
        """``boxes`` ``(K, 4)`` as this look crops them (tensor or numpy array)."""
        return shift_xyxy(scale_xyxy(boxes, self.scale), self.dx, self.dy)

    def describe(self) -> str:
        """In words: ``0.85x``, ``6 % of its side right``."""
        parts = [f"{self.scale:g}x"] if self.scale != 1 else []
        for value, forward, back in ((self.dx, "right", "left"), (self.dy, "down", "up")):
            if value:
                parts.append(f"{abs(value) * 100:g} % of its side {forward if value > 0 else back}")
        return " ".join(parts) or "as found"


# A box the namer is unsure of (best probability under decode.SURE_NAME) is named again from these crops of
# it and the answers averaged: an ambiguous digit reads better from a few crops, and a part of a digit or a
# box over two is rejected more often. Package 4.4.0 looked at 0.9x and 1.1x; 4.28.0's six looks (thin boxes
# apart, below) read 41 numbers more of 5,641 on data/val2 + val3 + val4 (docs/experiments.md, 4.28.0).
UNSURE_LOOKS: tuple[CropLook, ...] = (
    CropLook(scale=0.85),
    CropLook(scale=1.15),
    CropLook(dx=0.06),
    CropLook(dx=-0.06),
    CropLook(dy=0.06),
    CropLook(dy=-0.06),
)
# A thin box (narrower than THIN_BOX_ASPECT of its height: a `1` drawn as one straight stroke) keeps 4.4.0's
# two looks. Its square crop holds its neighbours' ink, and a wider or moved crop brings more of it in: with
# the six looks the straight-`1` probe read 6 of its 72 rows of `1`s fewer (docs/experiments.md).
THIN_BOX_ASPECT = 0.3
THIN_BOX_LOOKS: tuple[CropLook, ...] = (CropLook(scale=0.9), CropLook(scale=1.1))


class TorchNamer:
    """Runs the PyTorch crop classifier (or ensemble) on boxes of a batch (see
    :class:`~digit_detector.naming.BoxNamer`), as :class:`~digit_detector.torch_backend.TorchBackend` runs
    the detector: channels-last,
    its batch norms folded into its convolutions (:func:`~digit_detector.models.layers.folded_batch_norms`:
    a copy, so ``classifier`` stays trainable), its classifier in ``dtype`` (bfloat16 where it is faster:
    :func:`~digit_detector.devices.resolve_precision`; the crops are cut and the answers given in float32)."""

    def __init__(
        self, classifier: Classifier, device: torch.device, dtype: torch.dtype | None = None
    ) -> None:
        import torch

        from digit_detector.models.layers import folded_batch_norms
        from digit_detector.naming import BoxNamer

        module = folded_batch_norms(BoxNamer(classifier))
        self.module = module.to(device, dtype or torch.float32).to(memory_format=torch.channels_last)
        self.device = device

    def __call__(self, images: Any, boxes: Any, image_index: Any) -> Any:
        """Class probabilities of ``boxes`` in the images they index (tensors or numpy arrays), of the kind
        ``boxes`` is, as the onnxruntime namer answers: a tensor for tensor boxes, else a numpy array."""
        import torch

        with torch.inference_mode():
            probs = self.module(
                *(torch.as_tensor(value).to(self.device) for value in (images, boxes, image_index))
            ).cpu()
        return probs if is_tensor(boxes) else probs.numpy()


@dataclass(frozen=True)
class NamedBoxes(Generic[ArrayT]):
    """Boxes of one image with their names: best class and runner-up, each with its score."""

    boxes: ArrayT  # (K, 4) input pixels
    class_ids: ArrayT  # (K,)
    scores: ArrayT  # (K,) objectness x class probability
    runner_up_ids: ArrayT  # (K,)
    runner_up_scores: ArrayT  # (K,)
    class_scores: ArrayT  # (K, C) objectness x every class's probability


def apply_log_bias(class_probs: ArrayT, log_bias: Any) -> ArrayT:
    """Class probabilities ``(K, C)`` with a per-class log-prior ``(C,)`` added, renormalised (tensors or
    numpy arrays; the result is of ``class_probs``' kind)."""
    if isinstance(class_probs, np.ndarray):
        bias = np.asarray(log_bias, dtype=class_probs.dtype)
        if not bias.any():
            return class_probs
        weighted = class_probs * np.exp(bias)
        return weighted / np.maximum(weighted.sum(axis=1, keepdims=True), weighted.dtype.type(1e-12))
    import torch

    log_bias = torch.as_tensor(log_bias)
    if not bool(log_bias.any()):
        return class_probs
    weighted = class_probs * log_bias.exp()
    return weighted / weighted.sum(dim=1, keepdim=True).clamp(min=1e-12)


def split_rejection(probs: ArrayT, num_classes: int) -> tuple[ArrayT, ArrayT]:
    """A namer's answers ``(K, C)`` or ``(K, C + 1)`` -> the class probabilities ``(K, C)`` and the
    probability that each box is one whole object ``(K,)``. A rejecting namer's last output says "not one
    whole object" (:class:`~digit_detector.naming.NamerConfig` ``rejects``); its class probabilities are
    renormalised without it. Without that output every box is whole (probability 1)."""
    if probs.shape[1] == num_classes:
        return probs, probs.new_ones(len(probs)) if is_tensor(probs) else np.ones(len(probs), probs.dtype)
    if probs.shape[1] != num_classes + 1:
        raise ValueError(f"a namer of {num_classes} classes gave {probs.shape[1]} outputs per box")
    names = probs[:, :num_classes]
    if is_tensor(names):
        whole = names.sum(dim=1)
        return names / whole.clamp(min=1e-12)[:, None], whole
    whole = names.sum(axis=1)
    return names / np.maximum(whole, whole.dtype.type(1e-12))[:, None], whole


LookGroups = list[tuple[NDArray[np.int64], tuple[CropLook, ...]]]


def unsure_look_groups(first: Any, boxes: Any) -> LookGroups:
    """Which of ``boxes`` ``(K, 4)`` are looked at again, and from which crops: the rows whose best answer
    in ``first`` ``(K, outputs)`` is under :data:`~digit_detector.decode.SURE_NAME`, thin ones
    (:data:`THIN_BOX_ASPECT`) with :data:`THIN_BOX_LOOKS`, the others with :data:`UNSURE_LOOKS` (tensors or
    numpy arrays)."""
    if not len(boxes):
        return []
    best = first.max(dim=1).values.numpy() if is_tensor(first) else first.max(axis=1)
    unsure = best < SURE_NAME
    sides = boxes[:, 2:] - boxes[:, :2]
    sides = sides.numpy() if is_tensor(sides) else sides
    thin = sides[:, 0] < THIN_BOX_ASPECT * sides[:, 1]
    return [
        (np.flatnonzero(rows), looks)
        for rows, looks in ((unsure & thin, THIN_BOX_LOOKS), (unsure & ~thin, UNSURE_LOOKS))
        if rows.any()
    ]


def looked_boxes(boxes: ArrayT, groups: LookGroups) -> ArrayT:
    """Every look of ``groups`` at ``boxes`` in one array (group by group, look by look): what one namer
    call names (:func:`average_looks` takes its answers)."""
    crops = [look.of(boxes[rows]) for rows, looks in groups for look in looks]
    if is_tensor(boxes):
        import torch

        return torch.cat(crops)
    return np.concatenate(crops)


def looks_by_group(again: ArrayT, groups: LookGroups) -> Iterator[tuple[NDArray[np.int64], ArrayT]]:
    """The answers ``again`` to the boxes of :func:`looked_boxes`, group by group: each group's rows and
    their answers ``(looks, rows, outputs)``."""
    start = 0
    for rows, looks in groups:
        yield rows, again[start : start + len(rows) * len(looks)].reshape(len(looks), len(rows), -1)
        start += len(rows) * len(looks)


def average_looks(first: ArrayT, again: ArrayT, groups: LookGroups) -> ArrayT:
    """``first`` ``(K, outputs)`` with each looked-at row averaged with its answers in ``again`` (for the
    boxes of :func:`looked_boxes`, in that order)."""
    averaged = first.clone() if is_tensor(first) else first.copy()
    for rows, answers in looks_by_group(again, groups):
        averaged[rows] = (first[rows] + answers.sum(0)) / (1 + len(answers))
    return averaged


def name_probabilities(namer: Namer, batch: Any, boxes: Any) -> Any:
    """The class probabilities ``(K, C)`` ``namer`` gives ``boxes`` ``(K, 4)`` of the one image in ``batch``;
    where its best one is under :data:`~digit_detector.decode.SURE_NAME`, averaged with its answers for the
    crops of :data:`UNSURE_LOOKS` (:data:`THIN_BOX_LOOKS` for a thin box) (of the namer's kind, tensor or
    numpy array)."""
    first = namer(batch, boxes, np.zeros(len(boxes), dtype=np.int64))
    groups = unsure_look_groups(first, boxes)
    if not groups:
        return first
    looked = looked_boxes(boxes, groups)
    again = namer(batch, looked, np.zeros(len(looked), dtype=np.int64))  # every look in one call
    return average_looks(first, again, groups)


@dataclass(frozen=True)
class LoneLooks:
    """More looks at the box of a canvas that shows one drawing (the weights' ``lone_looks``), when the namer
    is unsure of its name (``Detector.looks_again_at``): it is named from crops of the box scaled by each of
    ``scales`` and turned by each of ``degrees``, every pair, the answers averaged
    (:func:`lone_look_probabilities`).

    Why only a lone box: there the namer's cost is one crop, so it can afford several, and a digit on its
    own is read from its shape alone (an MNIST `9` with an open loop, a `1` with a flag). Chosen on both
    validation splits (docs/experiments.md "More looks at a lone drawing")."""

    scales: tuple[float, ...]
    degrees: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.scales or not self.degrees:
            raise ValueError("lone looks need at least one scale and one angle")
        if not all(math.isfinite(s) and 0.5 <= s <= 2.0 for s in self.scales):
            raise ValueError(f"lone look scales must be from 0.5 to 2, got {list(self.scales)}")
        if not all(math.isfinite(d) and -45.0 <= d <= 45.0 for d in self.degrees):
            raise ValueError(f"lone look angles must be from -45 to 45 degrees, got {list(self.degrees)}")
        if len(self.scales) * len(self.degrees) > MAX_LONE_LOOKS:
            raise ValueError(f"at most {MAX_LONE_LOOKS} lone looks (scales x angles)")

    def to_dict(self) -> dict[str, list[float]]:
        return {"scales": list(self.scales), "degrees": list(self.degrees)}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> LoneLooks:
        return cls(tuple(float(s) for s in record["scales"]), tuple(float(d) for d in record["degrees"]))


#: The most crops :class:`LoneLooks` may name a lone box from (one namer call of that many crops).
MAX_LONE_LOOKS = 49


def _turned_plane(plane: NDArray[np.uint8], turn: NDArray[np.float64]) -> NDArray[np.uint8]:
    """``plane`` (HxW or HxWxC) warped by the 2x3 matrix ``turn`` at its own size, white where the turn
    brings in pixels from outside it."""
    height, width = plane.shape[:2]
    white = (255, 255, 255)
    warped = cv2.warpAffine(
        plane,
        turn,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=white,
    )
    return np.asarray(warped, dtype=np.uint8)


def turned_inputs(
    rgb: NDArray[np.uint8],
    centre: tuple[float, float],
    degrees: Sequence[float],
    input_size: int,
    upright: tuple[NDArray[np.float32], Letterbox] | None = None,
) -> tuple[NDArray[np.float32], Letterbox]:
    """The image ``rgb`` turned by each of ``degrees`` (counterclockwise on screen) about ``centre`` (its own
    pixels), white where the turn brings in pixels from outside it, each preprocessed as every image is
    (:func:`~digit_detector.preprocess.preprocess_array`): the model inputs ``(len(degrees), 3, S, S)`` and
    their letterbox (a turn keeps the image's size, so one for all). Turned at the image's own resolution,
    before it is scaled down, so a small digit's thin strokes stay as sharp as in the upright input.
    ``upright``: the image's model input and letterbox where the caller has them already (the angle 0)."""
    inputs = []
    letterbox = None if upright is None else upright[1]
    for angle in degrees:
        if angle == 0.0 and upright is not None:
            inputs.append(upright[0])
            continue
        turn = np.asarray(cv2.getRotationMatrix2D(centre, angle, 1.0), dtype=np.float64)
        turned = rgb if angle == 0.0 else on_each_channel(rgb, partial(_turned_plane, turn=turn))
        batch, letterbox = preprocess_array(turned, input_size)
        inputs.append(batch)
    assert letterbox is not None  # at least one angle (LoneLooks), or the upright input given
    return np.concatenate(inputs), letterbox


def lone_look_probabilities(
    namer: Namer,
    rgb: NDArray[np.uint8],
    box: tuple[float, float, float, float],
    looks: LoneLooks,
    input_size: int,
    upright: tuple[NDArray[np.float32], Letterbox] | None = None,
) -> Any:
    """The namer's answers ``(1, outputs)`` for ``box`` (pixels of the RGB image ``rgb``), averaged over
    ``looks``: the image turned about the box's centre by each angle (:func:`turned_inputs`), and in each
    turned input the box scaled by each factor. The crops themselves are cut as every crop is (the namer's
    own rule), so both backends run it. ``upright``: as :func:`turned_inputs` takes it."""
    x1, y1, x2, y2 = box
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    images, letterbox = turned_inputs(rgb, centre, looks.degrees, input_size, upright)
    found = letterbox.to_input(np.asarray([box], dtype=np.float64)).astype(np.float32)
    scaled = np.concatenate([scale_xyxy(found, factor) for factor in looks.scales])
    boxes = np.tile(scaled, (len(looks.degrees), 1)).astype(np.float32)
    image_index = np.repeat(np.arange(len(looks.degrees), dtype=np.int64), len(looks.scales))
    answers = namer(images, boxes, image_index)
    if isinstance(answers, np.ndarray):
        return answers.mean(0, keepdims=True)
    return answers.mean(0, keepdim=True)


def name_boxes(found: RawDetections[ArrayT], class_probs: ArrayT) -> NamedBoxes[ArrayT]:
    """Best class and runner-up per box; scores are objectness x class probability."""
    class_scores = found.objectness[:, None] * class_probs
    if isinstance(class_scores, np.ndarray):
        if not len(class_scores):
            no_ids = np.zeros(0, dtype=np.int64)
            return NamedBoxes(found.boxes, no_ids, found.scores, no_ids, found.scores, class_scores)
        order = np.argsort(-class_scores, axis=1, kind="stable")[:, : min(2, class_scores.shape[1])]
        values = np.take_along_axis(class_scores, order, axis=1)
        return NamedBoxes(found.boxes, order[:, 0], values[:, 0], order[:, 1], values[:, 1], class_scores)
    import torch

    top = class_scores.topk(min(2, class_scores.shape[1]), dim=1) if len(class_scores) else None
    if top is None:
        empty = torch.zeros(0, dtype=torch.int64)
        return NamedBoxes(found.boxes, empty, found.scores, empty, found.scores, class_scores)
    return NamedBoxes(
        found.boxes, top.indices[:, 0], top.values[:, 0], top.indices[:, 1], top.values[:, 1], class_scores
    )


def _as_runner_up_digit(
    detection: Detection, class_names: Sequence[str], min_probability: float
) -> Detection | None:
    """``detection``, an `other`, named its runner-up digit with `other` as the runner-up ("0 or other"),
    when the namer gives that digit at least ``min_probability``; None when it does not apply."""
    if detection.label != "other" or detection.runner_up is None or detection.runner_up_score is None:
        return None
    digit = detection.runner_up
    objectness = detection.objectness or 0.0
    if not (len(digit) == 1 and digit.isdigit() and digit in class_names) or objectness <= 0.0:
        return None
    if detection.runner_up_score / objectness < min_probability:
        return None
    return replace(
        detection,
        label=digit,
        class_id=list(class_names).index(digit),
        score=detection.runner_up_score,
        runner_up=detection.label,
        runner_up_score=detection.score,
    )


def lone_other_as_digit(
    detections: list[Detection], class_names: Sequence[str], min_probability: float | None
) -> list[Detection]:
    """``detections`` with a lone box named `other` named its runner-up digit instead, when the namer gives
    that digit at least ``min_probability`` (None: as they are). The `other` is kept as the runner-up, so
    the app shows "0 or other".

    Why only a lone box: on a canvas showing one drawing, a digit is what people most often draw here, and
    an oddly drawn `0` or `8` the namer calls `other` with a digit a close second is read as that digit
    (chosen on validation: ``python -m digit_detector namer lone-digit``). Among several boxes the same
    shift costs numbers (an `other` part would be read as a digit, ``experiments/other_bias.py``), except
    in a row of digits (:func:`others_in_lines_as_digits`)."""
    if min_probability is None or len(detections) != 1:
        return detections
    read = _as_runner_up_digit(detections[0], class_names, min_probability)
    return detections if read is None else [read]


# An `other` this much taller or shorter than the median digit of its line is not read as a digit
IN_LINE_HEIGHT_RATIO = 1.4


def others_in_lines_as_digits(
    detections: list[Detection], class_names: Sequence[str], min_probability: float | None
) -> list[Detection]:
    """``detections`` with each `other` that sits in a line of two or more digits (``reading.group_lines``)
    and is about as tall as they are (within ``IN_LINE_HEIGHT_RATIO``) named its runner-up digit, by the
    lone-digit rule (:func:`lone_other_as_digit`, the same ``min_probability``).

    Why: an oddly drawn `8` in the middle of a number, named `other` with `8` a close second, dropped a
    digit from the number without a word; in a row of digits it is most likely a digit. Measured in
    ``experiments/other_in_line.py`` and ``experiments/held_out_mouse.py`` (``docs/experiments.md``)."""
    if min_probability is None or len(detections) < 3 or all(d.label != "other" for d in detections):
        return detections
    boxes = np.asarray([d.box for d in detections], np.float64)
    out = list(detections)
    for line in group_lines(boxes):
        digits = [i for i in line if is_digit(detections[i].class_id)]
        if len(digits) < 2:
            continue
        height = float(np.median(boxes[digits, 3] - boxes[digits, 1]))
        for i in line:
            own = float(boxes[i, 3] - boxes[i, 1])
            if not 1 / IN_LINE_HEIGHT_RATIO <= own / max(height, 1e-9) <= IN_LINE_HEIGHT_RATIO:
                continue
            read = _as_runner_up_digit(detections[i], class_names, min_probability)
            if read is not None:
                out[i] = read
    return out

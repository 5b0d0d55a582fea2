"""Fit the containment keep rule of shippable weights (``python -m digit_detector namer keep-rule``).

The weights run once over canvases of a *training* split with containment off. Every box the shipped
containment rule would drop is labelled by the truth: *keep* when it matches, at IoU 0.5 and with its name,
a true object that no box the rule keeps matches (a touching digit the rule took for a part), else *drop*
(a part, a copy, a box over two). A small network on :func:`~digit_detector.containment.
dropped_box_features` learns it; its probability threshold is chosen on the val split by what is read
(the most numbers read exactly, without fewer single digits right or more `other` taken for a digit).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.containment import KeepRule, dropped_box_features
from digit_detector.data.yolo_format import Sample, load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.breakdown import ReadingCounts
from digit_detector.evaluation.scoring import read_canvas
from digit_detector.naming import load_namer
from digit_detector.results import Detection, DetectionResult
from digit_detector.training.namer import save_namer
from digit_detector.weights import load_weights, metadata_path, save_weights

MATCH_IOU = 0.5
#: Keep-probability thresholds tried on validation, most cautious last (ties go to the most cautious).
MIN_PROBABILITIES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# The network: 32 hidden units read as well as 16 or 64 on validation (docs/experiments.md, package 4.11.0).
HIDDEN_UNITS = 32
WEIGHT_DECAY = 1e-2
EPOCHS = 400


@dataclass(frozen=True)
class Canvas:
    """One canvas's truth and what the weights show on it with containment off."""

    ids: list[int]
    truth: NDArray[np.float64]
    result: DetectionResult


def collect(detector: Detector, samples: list[Sample], desc: str) -> list[Canvas]:
    """One pass of ``detector`` over ``samples`` with containment off."""
    canvases = []
    for sample in tqdm(samples, desc=desc, unit="canvas"):
        result = detector(sample.image_path, suppress_contained=False)
        truth = np.asarray(sample.boxes_xyxy, np.float64).reshape(-1, 4)
        canvases.append(Canvas([int(c) for c in sample.class_ids], truth, replace(result, orig_img=None)))
    return canvases


def whole_objects(
    detections: list[Detection], dropped: list[bool], ids: list[int], truth: NDArray[np.float64]
) -> list[bool]:
    """Which ``dropped`` boxes match, with their name, a true object (``ids``, ``truth`` (N, 4)) that no kept
    box matches."""
    keep = [False] * len(detections)
    if not any(dropped) or not len(truth):
        return keep
    overlap = box_iou(np.array([d.box for d in detections], np.float64), truth)
    best = overlap.argmax(axis=1)
    claimed = {
        int(best[k]) for k, drop in enumerate(dropped) if not drop and overlap[k, best[k]] >= MATCH_IOU
    }
    for k, detection in enumerate(detections):
        match = int(best[k])
        same_name = ids[match] == detection.class_id
        if dropped[k] and overlap[k, match] >= MATCH_IOU and same_name and match not in claimed:
            keep[k] = True
            claimed.add(match)
    return keep


@contextmanager
def metadata_with(detector: Detector, **changes: Any) -> Iterator[Detector]:
    """``detector`` with its weights' metadata changed by ``changes`` for the block (its own again after):
    a replay of another keep rule (``containment_keep=rule``) or other choice."""
    original = detector.metadata
    detector.metadata = replace(original, **changes)
    try:
        yield detector
    finally:
        detector.metadata = original


def _arrays(
    detections: list[Detection],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    boxes = np.array([d.box for d in detections], np.float64).reshape(-1, 4)
    objectness = np.array([d.objectness or 0.0 for d in detections], np.float64)
    name_probs = np.array([d.name_probability for d in detections], np.float64)
    class_ids = np.array([d.class_id for d in detections], np.float64)
    return boxes, objectness, name_probs, class_ids


def training_rows(
    detector: Detector, canvases: list[Canvas], threshold: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Features and keep labels of every box the containment rule (without a keep rule) drops."""
    xs: list[NDArray[np.float64]] = []
    ys: list[float] = []
    num_classes = len(detector.class_names)
    with metadata_with(detector, containment_keep=None):
        for canvas in canvases:
            detections = canvas.result.detections
            dropped = detector.contained_mask(detections, threshold)
            if any(dropped):
                xs.append(
                    dropped_box_features(*_arrays(detections), np.array(dropped), threshold, num_classes)
                )
                labels = whole_objects(detections, dropped, canvas.ids, canvas.truth)
                ys.extend(float(k) for k, d in zip(labels, dropped, strict=True) if d)
    if not xs:
        raise ValueError("the containment rule drops no box on these canvases: nothing to learn from")
    return np.concatenate(xs), np.array(ys, np.float64)


def fit_network(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    hidden: int = HIDDEN_UNITS,
    weight_decay: float = WEIGHT_DECAY,
    epochs: int = EPOCHS,
) -> tuple[NDArray[np.float64], NDArray[np.float64], torch.nn.Linear, torch.nn.Linear]:
    """A one-hidden-layer ReLU network fitted to features ``x`` and binary labels ``y``: full batch AdamW on
    standardised features, seeded (the same rows give the same network). Returns the standardisation
    (``mean``, ``scale``) and the network's two layers (float64; logits ``second(relu(first(z)))``)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0)
    inputs = torch.as_tensor((x - mean) / scale, dtype=torch.float64)
    target = torch.as_tensor(y, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    first, second = torch.nn.Linear(x.shape[1], hidden).double(), torch.nn.Linear(hidden, 1).double()
    for layer in (first, second):  # seeded here, not by the global generator
        bound = 1.0 / layer.in_features**0.5
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
    network = torch.nn.Sequential(first, torch.nn.ReLU(), second)
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=weight_decay)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(network(inputs).squeeze(1), target)
        loss.backward()
        optimizer.step()
    return mean, scale, first, second


def fit_keep_rule(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    num_classes: int,
    hidden: int = HIDDEN_UNITS,
    weight_decay: float = WEIGHT_DECAY,
    epochs: int = EPOCHS,
) -> KeepRule:
    """The keep rule's network (:func:`fit_network`) fitted to features ``x`` and labels ``y``; threshold
    0.5."""
    mean, scale, first, second = fit_network(x, y, hidden, weight_decay, epochs)
    return KeepRule(
        mean=tuple(mean.tolist()),
        scale=tuple(scale.tolist()),
        hidden_weights=tuple(tuple(row) for row in first.weight.detach().tolist()),
        hidden_bias=tuple(first.bias.detach().tolist()),
        output_weights=tuple(second.weight.detach()[0].tolist()),
        output_bias=float(second.bias.detach()[0]),
        min_probability=0.5,
        num_classes=num_classes,
    )


def shown_with(detector: Detector, canvas: Canvas, rule: KeepRule | None) -> DetectionResult:
    """What ``detector`` shows on ``canvas`` with ``rule`` as its keep rule (replayed, no model run)."""
    with metadata_with(detector, containment_keep=rule):
        return canvas.result.with_detections(
            detector.shown(canvas.result.detections, detector.containment_threshold)
        )


def read_with(detector: Detector, canvases: list[Canvas], rule: KeepRule | None) -> ReadingCounts:
    """What ``detector`` reads on ``canvases`` with ``rule`` as its keep rule (replayed, no model run)."""
    counts = ReadingCounts()
    for canvas in canvases:
        counts.add(read_canvas(canvas.ids, canvas.truth, shown_with(detector, canvas, rule)))
    return counts


def choose_min_probability(
    detector: Detector, rule: KeepRule, canvases: list[Canvas]
) -> tuple[KeepRule | None, dict[str, ReadingCounts]]:
    """The rule at the threshold that reads the most numbers on ``canvases`` without fewer single digits
    right or more `other` taken for a digit than no rule; None when no threshold reads more numbers."""
    readings = {"no keep rule": read_with(detector, canvases, None)}
    baseline = readings["no keep rule"]
    best: KeepRule | None = None
    best_numbers = baseline.number_correct
    for p in MIN_PROBABILITIES:
        candidate = replace(rule, min_probability=p)
        counts = readings[f"keep at p >= {p:g}"] = read_with(detector, canvases, candidate)
        fair = (
            counts.single_digit_correct >= baseline.single_digit_correct
            and counts.other_taken <= baseline.other_taken
        )
        if fair and counts.number_correct >= best_numbers and counts.number_correct > baseline.number_correct:
            best, best_numbers = candidate, counts.number_correct
    return best, readings


def make_keep_rule_weights(
    weights: Path,
    fit_data: list[Path],
    val_data: Path,
    out: Path,
    *,
    command: str,
    version: str,
    fit_split: str = "train",
    limit: int | None = None,
) -> Path:
    """Fit on the ``fit_split`` of every ``fit_data`` (the first ``limit`` canvases of each), choose the
    threshold on ``val_data``'s val split and write ``out/<weights name>`` (with its namer beside it);
    returns the weights path. ``ValueError`` when no threshold reads more validation numbers (nothing is
    written then)."""
    weights = Path(weights)
    detector = Detector.from_weights(weights, device="cpu", backend="torch")
    threshold = detector.containment_threshold
    if threshold is None:
        raise ValueError(f"{weights} has no containment threshold: there is no rule to second")
    fitted = [
        canvas
        for root in fit_data
        for canvas in collect(detector, load_split(root, fit_split).samples[:limit], f"{root}:{fit_split}")
    ]
    x, y = training_rows(detector, fitted, threshold)
    print(f"fit on {len(fitted)} canvases: {len(y)} boxes dropped, {int(y.sum())} of them whole objects")
    rule = fit_keep_rule(x, y, len(detector.class_names))
    val = collect(detector, load_split(val_data, "val").samples, f"{val_data}:val")
    chosen, readings = choose_min_probability(detector, rule, val)
    for name, counts in readings.items():
        print(f"  {val_data}:val, {name}: {counts}")
    if chosen is None:
        raise ValueError("no keep threshold reads more validation numbers: the weights stay as they are")
    print(f"chosen: keep a dropped box at p >= {chosen.min_probability:g}")
    return save_choice(
        weights, out, stage="keep-rule", command=command, version=version, containment_keep=chosen
    )


def save_choice(weights: Path, out: Path, *, stage: str, command: str, version: str, **changes: Any) -> Path:
    """A copy of ``weights`` (and its namer) as ``out/<weights name>`` with the metadata ``changes`` (a rule
    chosen for them), ``version``, no report yet and ``command`` as the chain's last step; returns its
    path."""
    model, metadata = load_weights(weights)
    chain = [*metadata.training.get("chain", []), {"stage": stage, "command": command}]
    metadata = replace(
        metadata, **changes, version=version, metrics={}, training={**metadata.training, "chain": chain}
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if metadata.namer:
        namer, record = load_namer(Path(weights).parent / metadata.namer)
        save_namer(namer, record, out / metadata.namer)
    path = save_weights(model, metadata, out / Path(weights).name)
    print(f"wrote {path} and {metadata_path(path)}")
    return path

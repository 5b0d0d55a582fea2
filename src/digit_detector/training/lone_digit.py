"""The rules for a canvas with one drawing: the weights' ``lone_digit_min_probability`` (chosen by ``python -m
digit_detector namer lone-digit``), ``best_guess_min_objectness`` (set by ``namer best-guess``) and
``lone_looks`` (set by ``namer lone-looks``).

A lone drawing the namer calls `other` while it gives a digit a close second is read as that digit when
the digit's probability is at least the chosen value (:func:`~digit_detector.second_stage.
lone_other_as_digit`). The value is chosen on a val split by what is read: the most single digits right,
without more `other` drawings taken for a digit or fewer numbers read exactly than without the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.breakdown import ReadingCounts
from digit_detector.second_stage import LoneLooks
from digit_detector.training.keep_rule import Canvas, collect, metadata_with, read_with, save_choice
from digit_detector.weights import read_metadata

#: Digit probabilities tried, most permissive first (ties go to the most cautious).
MIN_PROBABILITIES = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def read_at(detector: Detector, canvases: list[Canvas], min_probability: float | None) -> ReadingCounts:
    """What ``detector`` reads on ``canvases`` with ``min_probability`` as its lone-digit rule (replayed)."""
    with metadata_with(detector, lone_digit_min_probability=min_probability):
        return read_with(detector, canvases, detector.metadata.containment_keep)


def choose_lone_digit_probability(
    detector: Detector, canvases: list[Canvas]
) -> tuple[float | None, dict[str, ReadingCounts]]:
    """The value that reads the most single digits on ``canvases`` without more `other` taken for a digit
    or fewer numbers than no rule; None when none reads more single digits."""
    readings = {"no lone-digit rule": read_at(detector, canvases, None)}
    baseline = readings["no lone-digit rule"]
    best: float | None = None
    best_single = baseline.single_digit_correct
    for p in MIN_PROBABILITIES:
        counts = readings[f"digit at p >= {p:g}"] = read_at(detector, canvases, p)
        fair = counts.other_taken <= baseline.other_taken and counts.number_correct >= baseline.number_correct
        if (
            fair
            and counts.single_digit_correct >= best_single
            and counts.single_digit_correct > (baseline.single_digit_correct)
        ):
            best, best_single = p, counts.single_digit_correct
    return best, readings


def make_lone_digit_weights(weights: Path, val_data: Path, out: Path, *, command: str, version: str) -> Path:
    """Choose the value on ``val_data``'s val split and write ``out/<weights name>`` (with its namer);
    returns the weights path. ``ValueError`` when no value reads more single digits (nothing is written)."""
    weights = Path(weights)
    detector = Detector.from_weights(weights, device="cpu", backend="torch")
    with metadata_with(detector, lone_digit_min_probability=None):  # the replay decides, not the weights'
        val = collect(detector, load_split(val_data, "val").samples, f"{val_data}:val")
    chosen, readings = choose_lone_digit_probability(detector, val)
    for name, counts in readings.items():
        print(f"  {val_data}:val, {name}: {counts}")
    if chosen is None:
        raise ValueError("no value reads more validation single digits: the weights stay as they are")
    print(f"chosen: a lone `other` is named its runner-up digit at p >= {chosen:g}")
    return save_choice(
        weights, out, stage="lone-digit", command=command, version=version, lone_digit_min_probability=chosen
    )


def make_best_guess_weights(
    weights: Path, out: Path, min_objectness: float, *, command: str, version: str
) -> Path:
    """Write ``out/<weights name>`` (with its namer): ``weights`` whose canvases that show nothing show their
    most likely box from ``min_objectness`` up (``Detector.best_guess``). A set value, not a fitted one: the
    validation splits hold too few such canvases to choose it by (docs/experiments.md). ``ValueError`` for
    a value that is not under the weights' score threshold."""
    threshold = read_metadata(weights).score_threshold
    if not 0.0 < min_objectness < threshold:
        raise ValueError(
            f"--min-objectness must lie between 0 and the weights' score threshold ({threshold:g}), "
            f"got {min_objectness:g}"
        )
    print(f"a canvas that shows nothing shows its most likely box from objectness {min_objectness:g} up")
    return save_choice(
        weights,
        out,
        stage="best-guess",
        command=command,
        version=version,
        best_guess_min_objectness=min_objectness,
    )


def make_lone_looks_weights(
    weights: Path,
    out: Path,
    scales: Sequence[float],
    degrees: Sequence[float],
    *,
    command: str,
    version: str,
) -> Path:
    """Write ``out/<weights name>`` (with its namer): ``weights`` whose lone box is named from crops of it
    scaled by each of ``scales`` and turned by each of ``degrees`` (``second_stage.LoneLooks``). Set, not
    fitted here: the looks were compared on both validation splits by ``experiments/lone_looks.py``
    (docs/experiments.md). ``ValueError`` for looks out of range (nothing is written); weights without a
    namer cannot use them."""
    looks = LoneLooks(tuple(float(s) for s in scales), tuple(float(d) for d in degrees))
    if read_metadata(weights).namer is None:
        raise ValueError(f"{weights} has no namer: lone looks name a box with the namer")
    print(f"a lone box is named from {len(looks.scales) * len(looks.degrees)} looks: {looks.to_dict()}")
    return save_choice(weights, out, stage="lone-looks", command=command, version=version, lone_looks=looks)

"""Which of the detector's boxes to show, learnt: one network over every candidate box instead of the
objectness threshold, the containment rule and its keep rule.

    .venv/bin/python experiments/learned_selection.py collect --data data/fitc --split train \
        --out runs/sel/fitc.npz
    .venv/bin/python experiments/learned_selection.py collect --data data/val2 --split val \
        --out runs/sel/val2.npz
    .venv/bin/python experiments/learned_selection.py fit --fit runs/sel/fitc.npz ... \
        --eval runs/sel/synth-val.npz runs/sel/val2.npz --probabilities 0.3 0.4 0.5 0.6

``collect`` runs the shipped weights once per canvas at objectness ``FLOOR`` (NMS and everything else as
shipped, containment off): every candidate box, named, with the truth's answer for it (the candidate that
matches a true object best, IoU >= 0.5, one per object) and whether the shipped pipeline shows it (the
same result replayed at the shipped threshold with containment, as evaluation replays thresholds).
``fit`` learns the truth's answer from each candidate's scores, shape and its neighbours (``features``) on
the ``--fit`` canvases (the keep rule's network recipe, ``keep_rule.fit_network``) and reads the
``--eval`` canvases with each P: the candidates the network gives at least P are shown (a shown box
overlapping a likelier shown one at IoU >= 0.5 dropped). Prints numbers read exactly, lone digits read
(strictly) and lone `other` drawings shown as a digit, against the shipped pipeline and the oracle (the
truth's answer as the selection).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import CLASS_NAMES, is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.reading import read_number
from digit_detector.training.keep_rule import fit_network

FLOOR = (
    0.1  # candidates down to this objectness (the oracle: 1,155 of 1,284 data/val2 numbers, shipped 1,108)
)
MATCH_IOU = 0.5
CANVAS_SIZE = 400.0  # the generator's canvases: box sizes are taken against it
NUM_CLASSES = len(CLASS_NAMES)
COLUMNS = ("x1", "y1", "x2", "y2", "objectness", "name_prob", "runner_prob", "class_id", "shown", "label")


def greedy_match(boxes: NDArray[np.float64], truth: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which of ``boxes`` is the best match (IoU >= MATCH_IOU) of a true object, one per object."""
    matched = np.zeros(len(boxes), bool)
    if not len(boxes) or not len(truth):
        return matched
    overlap = box_iou(boxes, truth)
    used: set[int] = set()
    for flat in np.argsort(-overlap, axis=None):
        k, t = np.unravel_index(flat, overlap.shape)
        if overlap[k, t] < MATCH_IOU:
            break
        if matched[k] or t in used:
            continue
        matched[k] = True
        used.add(int(t))
    return matched


def collect(data: Path, split: str, out: Path, limit: int | None) -> None:
    detector = Detector.from_weights(None, device="cpu")
    rows, canvas_of, truths, ids_of = [], [], [], []
    shipped_rows: list[tuple[list[int], NDArray[np.float64]]] = []
    samples = load_split(data, split).samples[:limit]
    for number, sample in enumerate(tqdm(samples, desc=f"candidates {data.name}", mininterval=30)):
        image = read_image(sample.image_path)
        result = detector(image, score_threshold=FLOOR, suppress_contained=False)
        candidates = result.detections
        shipped = detector.reselect(result, detector.score_threshold, detector.containment_threshold)
        truth = np.asarray(sample.boxes_xyxy, np.float64).reshape(-1, 4)
        boxes = np.array([d.box for d in candidates], np.float64).reshape(-1, 4)
        labels = greedy_match(boxes, truth)
        shown_boxes = np.array([d.box for d in shipped.detections], np.float64).reshape(-1, 4)
        shown = np.zeros(len(candidates), bool)
        if len(shown_boxes) and len(boxes):
            shown = box_iou(boxes, shown_boxes).max(axis=1) > 0.99
        for k, d in enumerate(candidates):
            objectness = d.objectness or 0.0
            rows.append(
                [
                    *d.box,
                    objectness,
                    d.name_probability,
                    (d.runner_up_score or 0.0) / max(objectness, 1e-9),
                    d.class_id,
                    shown[k],
                    labels[k],
                ]
            )
            canvas_of.append(number)
        truths.append(truth)
        ids_of.append([int(c) for c in sample.class_ids])
        shipped_rows.append(([d.class_id for d in shipped.detections], shown_boxes))  # the baseline
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        rows=np.array(rows, np.float64).reshape(-1, len(COLUMNS)),
        canvas=np.array(canvas_of, np.int64),
        truth=object_array(truths),
        ids=object_array(ids_of),
        shipped=object_array(shipped_rows),
    )
    print(f"wrote {out}: {len(rows)} candidates on {len(samples)} canvases")


def object_array(items: list[Any]) -> NDArray[Any]:
    """A 1-D object array of ``items`` (numpy would otherwise stack equal-length ones)."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def features(rows: NDArray[np.float64], size: float) -> NDArray[np.float64]:
    """One row per candidate of one canvas: its scores, shape, rank, the shipped decision, how it overlaps
    the others (the likelier one it overlaps most, the one that holds it most, the ones it holds) and its
    name one-hot."""
    boxes, objectness, name_prob, runner = rows[:, :4], rows[:, 4], rows[:, 5], rows[:, 6]
    class_ids, shown = rows[:, 7].astype(int), rows[:, 8]
    n = len(rows)
    width = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    area = width * height
    sure = objectness >= 0.45
    reference = np.median(height[sure]) if sure.any() else np.median(height)
    overlap = box_iou(boxes, boxes)
    np.fill_diagonal(overlap, 0.0)
    x1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    np.fill_diagonal(inter, 0.0)
    inside = inter / area[:, None]  # [i, j]: share of i inside j
    holds = inter / area[None, :]  # [i, j]: share of j inside i
    likelier = objectness[None, :] > objectness[:, None]
    over_likelier = np.where(likelier, overlap, 0.0)
    top = over_likelier.argmax(axis=1) if n > 1 else np.zeros(n, int)
    holder = inside.argmax(axis=1) if n > 1 else np.zeros(n, int)
    rank = np.argsort(np.argsort(-objectness)) / max(n, 1)
    columns = [
        objectness,
        name_prob,
        runner,
        np.log(width / size),
        np.log(height / size),
        np.log(width / height),
        np.log(height / reference),
        np.full(n, np.log1p(n)),
        np.full(n, sure.sum()),
        rank,
        over_likelier.max(axis=1) if n > 1 else np.zeros(n),
        objectness[top] if n > 1 else np.zeros(n),
        inside.max(axis=1) if n > 1 else np.zeros(n),
        objectness[holder] if n > 1 else np.zeros(n),
        name_prob[holder] if n > 1 else np.zeros(n),
        (class_ids[holder] == class_ids) if n > 1 else np.zeros(n),
        holds.max(axis=1) if n > 1 else np.zeros(n),
        (inside > 0.5).sum(axis=1),
        (holds > 0.5).sum(axis=1),
        shown,
    ]
    return np.column_stack([*columns, np.eye(NUM_CLASSES)[class_ids]])


def load(path: Path) -> dict[str, NDArray[Any]]:
    return dict(np.load(path, allow_pickle=True))


def per_canvas(data: dict[str, NDArray[Any]]) -> list[NDArray[np.float64]]:
    rows, canvas = data["rows"], data["canvas"]
    out: list[NDArray[np.float64]] = [np.zeros((0, len(COLUMNS))) for _ in range(len(data["ids"]))]
    for number in np.unique(canvas):
        out[number] = rows[canvas == number]
    return out


def read(
    ids: list[int], truth: NDArray[np.float64], shown_ids: list[int], shown_boxes: NDArray[Any]
) -> tuple[bool, bool, bool]:
    digits = sum(is_digit(c) for c in ids)
    number = digits >= 2 and read_number(shown_ids, shown_boxes) == read_number(ids, truth)
    lone = len(ids) == 1 and is_digit(ids[0]) and shown_ids == ids
    other = len(ids) == 1 and CLASS_NAMES[ids[0]] == "other" and any(is_digit(c) for c in shown_ids)
    return number, lone, other


def select(
    rows: NDArray[np.float64], probs: NDArray[np.float64], p: float, drop: float | None = None
) -> NDArray[np.bool_]:
    """The candidates the network gives at least ``p``, likeliest first, none overlapping a likelier one at
    IoU >= MATCH_IOU. With ``drop``: a box the shipped pipeline shows needs only ``drop`` (so ``p`` adds
    boxes and ``drop`` removes shown ones)."""
    needed = np.full(len(rows), p) if drop is None else np.where(rows[:, 8] > 0, drop, p)
    keep = np.zeros(len(rows), bool)
    chosen: list[int] = []
    for k in np.argsort(-probs):
        if probs[k] < needed[k]:
            continue
        if chosen and box_iou(rows[[k], :4], rows[chosen, :4]).max() >= MATCH_IOU:
            continue
        chosen.append(int(k))
        keep[k] = True
    return keep


def fit(
    fit_paths: list[Path], eval_paths: list[Path], probabilities: list[float], drops: list[float], hidden: int
) -> None:
    xs, ys = [], []
    for path in fit_paths:
        data = load(path)
        for rows in per_canvas(data):
            if len(rows):
                xs.append(features(rows, CANVAS_SIZE))
                ys.append(rows[:, 9])
    x, y = np.concatenate(xs), np.concatenate(ys)
    print(f"fit on {len(y)} candidates ({int(y.sum())} whole objects)")
    mean, scale, first, second = fit_network(x, y, hidden=hidden)

    def probabilities_of(rows: NDArray[np.float64]) -> NDArray[np.float64]:
        z = torch.as_tensor((features(rows, CANVAS_SIZE) - mean) / scale, dtype=torch.float64)
        with torch.no_grad():
            return torch.sigmoid(second(torch.relu(first(z)))).squeeze(1).numpy()

    for path in eval_paths:
        data = load(path)
        counts = {name: np.zeros(3, int) for name in ["shipped", "oracle", *map(str, probabilities)]}
        totals = np.zeros(3, int)
        for number, rows in enumerate(per_canvas(data)):
            ids, truth = list(data["ids"][number]), data["truth"][number]
            shipped_ids, shipped_boxes = data["shipped"][number]
            totals += [
                sum(is_digit(c) for c in ids) >= 2,
                len(ids) == 1 and is_digit(ids[0]),
                len(ids) == 1 and CLASS_NAMES[ids[0]] == "other",
            ]
            counts["shipped"] += read(ids, truth, list(shipped_ids), shipped_boxes)
            keep = rows[:, 9] > 0 if len(rows) else np.zeros(0, bool)
            counts["oracle"] += read(ids, truth, rows[keep, 7].astype(int).tolist(), rows[keep, :4])
            probs = probabilities_of(rows) if len(rows) else np.zeros(0)
            for p in probabilities:
                keep = select(rows, probs, p)
                counts[str(p)] += read(ids, truth, rows[keep, 7].astype(int).tolist(), rows[keep, :4])
                for drop in drops:
                    keep = select(rows, probs, p, drop)
                    name = f"{p} / {drop}"
                    counts.setdefault(name, np.zeros(3, int))
                    counts[name] += read(ids, truth, rows[keep, 7].astype(int).tolist(), rows[keep, :4])
        print(f"{path}: numbers of {totals[0]}, lone digits of {totals[1]}, lone `other` of {totals[2]}")
        for name, (numbers, lone, other) in counts.items():
            print(f"  {name:>8}: numbers {numbers}, lone digits {lone}, `other` shown as a digit {other}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["collect", "fit"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--fit", type=Path, nargs="+", default=[])
    parser.add_argument("--eval", type=Path, nargs="+", default=[])
    parser.add_argument("--probabilities", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    parser.add_argument(
        "--drops", type=float, nargs="*", default=[], help="with each P: shown boxes need only this"
    )
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.action == "collect":
        collect(args.data, args.split, args.out, args.limit)
    else:
        fit(args.fit, args.eval, args.probabilities, args.drops, args.hidden)


if __name__ == "__main__":
    main()

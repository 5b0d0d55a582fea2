"""Cheaper lone looks: the lone box's own answer averaged with a few crops of a canvas turned by one warp.

    .venv/bin/python experiments/cheap_looks.py --data data/val2 --split val \
        --looks shipped 1:-10,10 0.9,1.1:-10,10 0.85,1,1.15:-10,10 1:-15,-7,7,15
    .venv/bin/python experiments/cheap_looks.py --data data/synth --split test --eval 1:-10,10
    .venv/bin/python experiments/cheap_looks.py --time 1:-10,10      # ms per unsure lone canvas

The shipped lone looks (``second_stage.LoneLooks``, weights v15.5.0) name an unsure lone box from nine
crops: the canvas turned by -10, 0 and 10 degrees at its own resolution, each turn preprocessed, the box
scaled 0.85, 1 and 1.15 in each. On a 400 px canvas that costs two turns and two preprocessings of the
whole canvas and eight namer crops more than the box's own answer, which puts an unsure lone drawing over
the latency budget (docs/experiments.md). The candidate measured here:

- each turn is one bilinear warp from the canvas's own pixels straight into the 192 px input (from a copy
  letterboxed to twice the input's size for an image over 2.5 times it), about 0.3 ms instead of ~1.5;
- the looks are only the turned crops (``SCALES:DEGREES``, every pair), averaged with the box's own answer
  (its upright crop, and the 0.9x / 1.1x second look where the namer was unsure), so the upright crops are
  not cut again.

``--looks``: each set (or ``shipped``) in the shipped pipeline, on every canvas of the split that holds one
object: lone digits read right (strictly: one box shown, named right) and lone `other` drawings shown as a
digit. ``--eval SET``: the split evaluated as ``eval`` does with that set. Here the box's own answer is
made again in the look (the same numbers as reusing it; a product version would reuse it, so ``--time``
counts that namer call out: it times the benchmark's unsure lone canvas, shipped and with SET, on both
backends, and the namer's own-answer call alone).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from digit_detector.boxes import is_tensor, scale_xyxy
from digit_detector.classes import CLASS_NAMES, is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.evaluation.scoring import evaluate
from digit_detector.io import read_image
from digit_detector.preprocess import ImageLike, Letterbox, letterbox, preprocess_array, to_array, to_rgb
from digit_detector.results import Detection
from digit_detector.second_stage import (
    LoneLooks,
    apply_log_bias,
    name_probabilities,
    split_rejection,
)

TURN_SOURCE_MAX = 2.5  # an image up to this many times the input's size is warped from its own pixels


def warped_inputs(
    rgb: NDArray[np.uint8], box_letterbox: Letterbox, centre: tuple[float, float], degrees: Sequence[float]
) -> NDArray[np.float32]:
    """The model inputs ``(len(degrees), 3, S, S)`` of ``rgb`` turned by each of ``degrees``
    (counterclockwise on screen) about ``centre`` (input pixels), each in one bilinear warp."""
    size = box_letterbox.input_size
    rgb = to_rgb(rgb)
    if max(box_letterbox.original_size) <= TURN_SOURCE_MAX * size:
        source, gain = rgb, 1 / box_letterbox.scale
        offset = np.array([-box_letterbox.pad_x, -box_letterbox.pad_y]) * gain
    else:
        source, twice = letterbox(rgb, 2 * size)
        gain = twice.scale / box_letterbox.scale
        offset = np.array(
            [twice.pad_x - gain * box_letterbox.pad_x, twice.pad_y - gain * box_letterbox.pad_y]
        )
    middle = np.asarray(centre, dtype=np.float64)
    inputs = []
    for angle in degrees:
        radians = math.radians(angle)
        back = np.array([[math.cos(radians), -math.sin(radians)], [math.sin(radians), math.cos(radians)]])
        # pixel index i of the turned input (centre i + 0.5) -> index in the source (centre - 0.5)
        shift = gain * (middle + back @ (0.5 - middle)) + offset - 0.5
        matrix = np.hstack((gain * back, shift[:, None]))
        turned = cv2.warpAffine(
            source,
            matrix,
            (size, size),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(255, 255, 255),
        )
        inputs.append(to_array(np.asarray(turned, dtype=np.uint8))[None])
    return np.concatenate(inputs)


def use_cheap_looks() -> None:
    """Make every :class:`Detector` of this process name an unsure lone box from its own answer and the
    turned crops of its weights' ``lone_looks`` (the class is patched: evaluation builds its own)."""

    def lone_look_probabilities(
        self: Detector,
        box: tuple[float, float, float, float],
        rgb: NDArray[np.uint8],
        upright: tuple[NDArray[np.float32], Letterbox] | None = None,
    ) -> NDArray[np.float64] | None:
        looks = self.metadata.lone_looks
        if looks is None or self.namer is None:
            return None
        batch, box_letterbox = upright or preprocess_array(rgb, self.metadata.model.input_size)
        found = box_letterbox.to_input(np.asarray([box], dtype=np.float64)).astype(np.float32)
        own = name_probabilities(self.namer, batch, found)
        centre = (float(found[0, 0] + found[0, 2]) / 2, float(found[0, 1] + found[0, 3]) / 2)
        images = warped_inputs(rgb, box_letterbox, centre, looks.degrees)
        scaled = np.concatenate([scale_xyxy(found, factor) for factor in looks.scales])
        boxes = np.tile(scaled, (len(looks.degrees), 1)).astype(np.float32)
        index = np.repeat(np.arange(len(looks.degrees), dtype=np.int64), len(looks.scales))
        answers = [self.namer(images, boxes, index), own]
        rows = np.concatenate([np.asarray(a.numpy() if is_tensor(a) else a, np.float64) for a in answers])
        probs, _ = split_rejection(rows.mean(0, keepdims=True), len(self.class_names))
        return np.asarray(apply_log_bias(probs, self.namer_log_bias), dtype=np.float64)[0]

    Detector.lone_look_probabilities = lone_look_probabilities  # type: ignore[method-assign]


def parse_looks(text: str) -> LoneLooks:
    scales, degrees = text.split(":")
    return LoneLooks(tuple(float(s) for s in scales.split(",")), tuple(float(d) for d in degrees.split(",")))


def compare(data: Path, split: str, sets: list[str]) -> None:
    """Lone digits read right and lone `other` shown as a digit, per set of looks."""
    detector = Detector.from_weights(None, device="cpu")
    shipped_detector = Detector.from_weights(None, device="cpu")
    use_cheap_looks()  # from here the patched method serves both; the shipped one is kept for "shipped"
    candidates = {text: None if text == "shipped" else parse_looks(text) for text in sets}
    read = dict.fromkeys(sets, 0)
    other_as_digit = dict.fromkeys(sets, 0)
    lone = others = 0
    for sample in tqdm(load_split(data, split).samples, desc="canvases", mininterval=30):
        ids = [int(c) for c in sample.class_ids]
        if len(ids) != 1:
            continue
        truth = ids[0]
        lone += is_digit(truth)
        others += CLASS_NAMES[truth] == "other"
        image = read_image(sample.image_path)
        for text, looks in candidates.items():
            if looks is None:
                shown = shipped_run(shipped_detector, image)
            else:
                detector.metadata = replace(shipped_detector.metadata, lone_looks=looks)
                shown = detector(image).detections
            if is_digit(truth):
                read[text] += len(shown) == 1 and shown[0].class_id == truth
            elif CLASS_NAMES[truth] == "other":
                other_as_digit[text] += any(is_digit(d.class_id) for d in shown)
    print(f"{data} {split}: {lone} lone digits, {others} lone `other` drawings")
    for text in sets:
        print(f"  {text:>22}: lone digits read {read[text]}, `other` shown as a digit {other_as_digit[text]}")


SHIPPED_LOOKS = Detector.lone_look_probabilities


def shipped_run(detector: Detector, image: ImageLike) -> list[Detection]:
    """``detector(image)``'s detections with the shipped lone looks (the method unpatched for the call)."""
    patched = Detector.lone_look_probabilities
    Detector.lone_look_probabilities = SHIPPED_LOOKS  # type: ignore[method-assign]
    try:
        return detector(image).detections
    finally:
        Detector.lone_look_probabilities = patched  # type: ignore[method-assign]


def time_looks(text: str, runs: int = 60) -> None:
    """Median ms of the benchmark's unsure lone canvas (``scripts/benchmark.py``'s ``lone_canvas(30)``),
    shipped and with the looks ``text``, on both backends; and of remaking the box's own answer, which
    the candidate's timing includes and a product version would not."""
    import statistics
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from benchmark import lone_canvas

    canvas = lone_canvas(bar=30)

    def median_ms(call: Callable[[], object]) -> float:
        for _ in range(5):
            call()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    for backend in ("torch", "onnx"):
        time_backend(backend, text, canvas, median_ms)


def time_backend(backend: str, text: str, canvas: NDArray[np.uint8], median_ms: Callable[..., float]) -> None:
    """:func:`time_looks` on one backend."""
    detector = Detector.from_weights(None, device="cpu", backend=backend)
    shipped = median_ms(lambda: shipped_run(detector, canvas))
    use_cheap_looks()
    detector.metadata = replace(detector.metadata, lone_looks=parse_looks(text))
    candidate = median_ms(lambda: detector(canvas))
    (found,) = detector(canvas).detections
    batch, box_letterbox = preprocess_array(canvas, detector.metadata.model.input_size)
    box = box_letterbox.to_input(np.asarray([found.box])).astype(np.float32)
    own = median_ms(lambda: name_probabilities(detector.namer, batch, box))  # type: ignore[arg-type]
    print(
        f"{backend}: shipped {shipped:.1f} ms, {text} {candidate:.1f} ms "
        f"(of which {own:.1f} ms remake the own answer: {candidate - own:.1f} ms reusing it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument("--looks", nargs="+", default=["shipped", "1:-10,10"])
    parser.add_argument("--eval", default=None, metavar="SET", help="evaluate the split with this set")
    parser.add_argument("--time", default=None, metavar="SET", help="time this set against the shipped looks")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.time is not None:
        time_looks(args.time)
        return
    if args.data is None:
        parser.error("--data is needed unless --time")
    if args.eval is None:
        compare(args.data, args.split, args.looks)
        return
    use_cheap_looks()
    detector = Detector.from_weights(None, device="cpu")
    detector.metadata = replace(detector.metadata, lone_looks=parse_looks(args.eval))
    report = evaluate(detector, load_split(args.data, args.split).samples, progress=True)
    print("\n".join(report.summary_lines()))


if __name__ == "__main__":
    main()

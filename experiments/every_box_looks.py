"""The lone looks at every unsure box: each box of a canvas showing at most N boxes named from the looks.

    .venv/bin/python experiments/every_box_looks.py --data data/val2 --split val --max-boxes 1 3 8
    .venv/bin/python experiments/every_box_looks.py --mouse val --n 2000 --seed 1 --max-boxes 1 8

Package 4.14.0 names a canvas's *lone* box, when the namer is unsure of it, from nine crops
(``second_stage.LoneLooks``: the canvas turned by -10, 0 and 10 degrees about the box, the box scaled 0.85,
1 and 1.15, the answers averaged). Does the same help the digits of numbers? For each ``--max-boxes`` N,
every shown box the namer is unsure of (``Detector.looks_again_at``) on a canvas that shows at most N boxes
is named from the looks (after containment, before the lone-digit rule), and the split is evaluated as
``eval`` does. N = 1 is the shipped pipeline. ``--mouse val`` reads ``held_out_mouse.py``'s drawings of
the validation split's MNIST digits instead.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import torch
from held_out_mouse import add_mouse_arguments, read_variants

from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector, LoneLook
from digit_detector.evaluation.scoring import evaluate
from digit_detector.results import Detection
from digit_detector.second_stage import lone_other_as_digit, others_in_lines_as_digits


def look_at_most(max_boxes: int) -> None:
    """Make every :class:`Detector` of this process name each unsure box from the looks on canvases showing
    at most ``max_boxes`` boxes (an experiment: the shipped one does it for one box). The class is patched,
    not an instance: evaluation runs detectors of its own."""

    def shown(
        self: Detector, detections: list[Detection], containment: float | None, look: LoneLook | None = None
    ) -> list[Detection]:
        kept = self.drop_contained(detections, containment)
        if look is not None and len(kept) <= max_boxes:
            kept = [look(d) for d in kept]
        min_probability = self.metadata.lone_digit_min_probability
        kept = lone_other_as_digit(kept, self.class_names, min_probability)
        return others_in_lines_as_digits(kept, self.class_names, min_probability)

    Detector.shown = shown  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--split", default="val")
    parser.add_argument("--max-boxes", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--threads", type=int, default=2)
    add_mouse_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.mouse:
        variants = [(f"looks at canvases of <= {n} boxes", partial(look_at_most, n)) for n in args.max_boxes]
        read_variants(args.mouse, args.n, args.seed, variants)
        return
    if args.data is None:
        parser.error("--data or --mouse")
    samples = load_split(args.data, args.split).samples
    for max_boxes in args.max_boxes:
        look_at_most(max_boxes)
        report = evaluate(Detector.from_weights(None, device="cpu"), samples, progress=True)
        print(
            f"looks at canvases of <= {max_boxes} boxes: single-digit top-1 {report.single_digit_correct} "
            f"of {report.single_digit_images}, numbers {report.number_correct} of {report.number_images}, "
            f"wrong class {report.wrong_class}, other taken {report.other_taken_for_digit}"
        )


if __name__ == "__main__":
    main()

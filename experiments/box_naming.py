"""Does the namer misname found boxes for their box? The objects the shipped pipeline shows (IoU >= 0.5 with
a true box) named again, from the shown box and from the true box, by the same namer call.

    .venv/bin/python experiments/box_naming.py --data data/val2 --split val [--limit N]

If the true boxes name the same objects much better than the shown boxes, the boxes cost names (lever:
better boxes or namer crops that forgive them); if both name them alike, the gap between naming found
boxes and naming all true boxes is which objects get found, not their boxes. Also prints the share of the
true boxes never shown at IoU >= 0.5, named from their true box (the harder objects, if they are), and how
the misnamed MNIST objects spread over the originals they were drawn from: an original misnamed every time
it is drawn is a doubtful glyph (why `audit --mnist` and `data/mnist_excluded.csv`, docs/data.md). Last,
every true digit box named from its true box, by how much of the digit lies on the canvas (``VISIBLE``).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from digit_detector.boxes import box_iou
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import boxed_objects, load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.preprocess import preprocess
from digit_detector.second_stage import name_probabilities, split_rejection

VISIBLE = ((0.95, "95 % or more on the canvas"), (0.8, "80-95 %"), (0.0, "under 80 % (cut by the edge)"))


def visibility(share: float) -> str:
    return next(label for floor, label in VISIBLE if share >= floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = Detector.from_weights(args.weights, device="cpu")
    assert detector.namer is not None, "these weights name no second stage"
    classes = len(detector.class_names)
    matched = shown_right = from_shown = from_true = 0
    unshown = unshown_right = 0
    flips: dict[str, int] = {"true box fixes": 0, "true box breaks": 0}
    objects = boxed_objects(args.data, args.split)
    glyph_named: dict[str, list[bool]] = defaultdict(list)  # MNIST original -> named right, each time shown
    by_visibility: dict[str, list[bool]] = defaultdict(
        list
    )  # true digit boxes: named right from the true box
    for sample in tqdm(load_split(args.data, args.split).samples[: args.limit], desc="canvases"):
        truth = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        if not len(truth):
            continue
        ids = np.asarray(sample.class_ids, dtype=np.int64)
        image = read_image(sample.image_path)
        result = detector(image)
        batch, letterbox = preprocess(image)
        shown = np.array([d.box for d in result.detections], dtype=np.float64).reshape(-1, 4)
        matched_true, matched_shown = [], []
        if len(shown):
            ious = box_iou(truth, shown)
            for row, overlaps in enumerate(ious):
                if overlaps.max() >= 0.5:
                    matched_true.append(row)
                    matched_shown.append(int(overlaps.argmax()))
        boxes = np.concatenate([shown[matched_shown], truth]) if matched_shown else truth
        input_boxes = torch.as_tensor(letterbox.to_input(boxes), dtype=torch.float32)
        probs, _ = split_rejection(name_probabilities(detector.namer, batch, input_boxes), classes)
        names = probs.argmax(1).numpy()
        k = len(matched_shown)
        matched += k
        for j, (row, col) in enumerate(zip(matched_true, matched_shown, strict=True)):
            source = objects[Path(sample.image_path).resolve()][row]["source"] if objects else {}
            named_right = result.detections[col].class_id == ids[row]
            if source.get("kind") == "mnist":
                glyph_named[f"{source['digit']}/{source['index']}"].append(named_right)
            shown_right += named_right
            by_shown, by_true = names[j] == ids[row], names[k + row] == ids[row]
            from_shown += by_shown
            from_true += by_true
            flips["true box fixes"] += int(by_true and not by_shown)
            flips["true box breaks"] += int(by_shown and not by_true)
        metas = objects.get(Path(sample.image_path).resolve(), []) if objects else []
        for row in [index for index, class_id in enumerate(ids) if is_digit(int(class_id))]:
            share = float(metas[row].get("visible", 1.0)) if metas else 1.0
            by_visibility[visibility(share)].append(bool(names[k + row] == ids[row]))
        for row in sorted(set(range(len(truth))) - set(matched_true)):
            unshown += 1
            unshown_right += names[k + row] == ids[row]
    print(f"objects shown at IoU >= 0.5: {matched}, named right as shown {shown_right}")
    print(f"  named again from the shown box: {from_shown}; from the true box: {from_true}; {flips}")
    repeats = Counter(len(v) for v in glyph_named.values() if not all(v))
    always = sum(not any(v) for v in glyph_named.values() if len(v) >= 2)
    misnamed = sum(v.count(False) for v in glyph_named.values())
    shown_mnist = sum(map(len, glyph_named.values()))
    print(f"MNIST objects shown: {shown_mnist} of {len(glyph_named)} originals, {misnamed} misnamed")
    print(f"  originals misnamed at least once, by how often shown: {dict(sorted(repeats.items()))}")
    print(f"  shown twice or more and misnamed every time: {always}")
    worst = sorted(glyph_named.items(), key=lambda kv: (-kv[1].count(False), kv[0]))[:20]
    listed = ", ".join(f"{k}: {v.count(False)}/{len(v)}" for k, v in worst)
    print(f"  most misnamed originals (digit/index: wrong of shown): {listed}")
    print(f"objects never shown at IoU >= 0.5: {unshown}, named right from the true box {unshown_right}")
    for _, label in VISIBLE:
        named = by_visibility[label]
        share_right = sum(named) / max(1, len(named))
        wrong = len(named) - sum(named)
        print(f"true digit boxes, {label}: {len(named)}, named right {share_right:.2%} ({wrong} wrong)")


if __name__ == "__main__":
    main()

"""Why canvases are read wrong: numbers by kind of failure and layout, and a sheet of single-digit failures.

    .venv/bin/python experiments/reading_failures.py --data data/synth --split test [--out sheet.png] \
        [--misnamed-out digits.png]

Runs the shipped detector (as the app does) on every canvas of the split with two or more digits and on
every single-digit canvas. A misread number is counted as having fewer characters than drawn (missed
digits), more (extra boxes), the right count with a wrong digit (naming), or the same digits in another
order; per layout, per number of digits on the canvas, and with or without a digit cut by the canvas
edge (under ``CUT_VISIBLE`` of it visible), the share read exactly, and the same for the numbers whose
boldest digit's pen is at most 0.1-0.25 of its height (the data keeps a pen under a sixth of the height,
``compose.min_height_for``, but slant, stretch and warp change the ratio), and for the numbers where no
digit lies under a word or doodle (``UNDER_OBJECT``) or on another digit (``ON_DIGIT``).
Each digit of a misread number that is not shown right is counted by why: shown with another name,
dropped by the containment rule (a box at IoU >= 0.5 with it off), boxed only loosely (IoU 0.3-0.5) or
not boxed; the misnamed ones are drawn on a second sheet (``--misnamed-out``: the digit, its source, what
it was read as), and with ``--layout`` the first 20 misread canvases of that layout with their shown boxes
(``--layout-out``). Each single-digit failure is listed with what the canvas holds (visible share of the
digit, pen width over height, source, layout) and drawn on a contact sheet.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from digit_detector.boxes import box_iou, inside_share
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import digit_sources, load_split, read_meta
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.reading import failure_kind, read_number
from digit_detector.results import Detection

TILE = 160
CANVAS_TILE = 300
DIGIT_TILE = 96
CUT_VISIBLE = 0.8  # a digit less visible than this is "cut by the canvas edge" in the numbers breakdown
# pen width over digit height: the numbers by their boldest digit (at a third of the height loops fill in)
PEN_RATIO_BOUNDS = (0.1, 0.15, 0.2, 0.25)
UNDER_OBJECT = 0.1  # a digit more than this share inside a word's or doodle's true box lies under it
ON_DIGIT = 0.25  # a digit more than this share inside another digit's true box is drawn on it
DIGIT_COUNTS = ((2, 2), (3, 5), (6, 8), (9, 11), (12, 99))  # the canvases by how many digits they hold


def best_overlap(box: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> tuple[int, float]:
    """Index and IoU of the box in ``boxes`` that overlaps ``box`` most ((-1, 0.0) when there is none)."""
    if not boxes:
        return -1, 0.0
    overlaps = box_iou(box[None], np.asarray(boxes, dtype=np.float64))[0]
    return int(overlaps.argmax()), float(overlaps.max())


def digit_tile(image: Image.Image, box: np.ndarray, caption: str) -> np.ndarray:
    """A square crop around ``box`` (30 % margin), captioned."""
    x1, y1, x2, y2 = box.tolist()
    half = 0.65 * max(x2 - x1, y2 - y1)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    crop = image.convert("L").crop(
        (round(centre_x - half), round(centre_y - half), round(centre_x + half), round(centre_y + half))
    )
    tile = crop.resize((DIGIT_TILE, DIGIT_TILE))
    ImageDraw.Draw(tile).text((2, 2), caption, fill=0)
    return np.asarray(tile)


def overlaps(class_ids: list[int], boxes: np.ndarray) -> tuple[bool, bool]:
    """Whether a digit of the canvas lies under a word or doodle (:data:`UNDER_OBJECT` of it inside its true
    box), and whether one lies on another digit (:data:`ON_DIGIT` of it inside that digit's box; digits that
    merely touch, as in a number, overlap less)."""
    digits = np.array([is_digit(c) for c in class_ids], dtype=bool)
    share = inside_share(boxes[digits], boxes)  # [digit, any box]
    others = np.where(digits, -1, np.arange(len(class_ids)))  # columns of the non-digits
    under = bool((share[:, others >= 0] > UNDER_OBJECT).any())
    on_digit = share[:, digits]
    np.fill_diagonal(on_digit, 0.0)
    return under, bool((on_digit > ON_DIGIT).any())


def canvas_tile(
    image: Image.Image,
    detections: list[Detection],
    expected: str,
    read: str,
    marked: np.ndarray | None = None,
) -> Image.Image:
    """A misread canvas with its shown boxes and names (red) and the ``marked`` boxes ``(K, 4)`` (thick blue),
    captioned with what was drawn and what was read."""
    tile = image.convert("RGB").resize((CANVAS_TILE, CANVAS_TILE))
    pen = ImageDraw.Draw(tile)
    scale = CANVAS_TILE / max(image.size)
    for detection in detections:
        box = [value * scale for value in detection.box]
        pen.rectangle(box, outline=(220, 0, 0))
        pen.text((box[0] + 2, box[1] + 1), detection.label, fill=(220, 0, 0))
    for box in [] if marked is None else marked:
        pen.rectangle([float(value) * scale for value in box], outline=(0, 90, 255), width=3)
    pen.text((3, 3), f"{expected!r} read {read!r}".replace("\\n", "/"), fill=(0, 0, 200))
    return tile


def save_sheet(tiles: list[np.ndarray], size: int, columns: int, out: Path) -> None:
    count = len(tiles)
    tiles = tiles + [np.full((size, size), 200, np.uint8)] * (-count % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=Path("runs/reading_failures.png"))
    parser.add_argument("--misnamed-out", type=Path, default=Path("runs/misnamed_in_numbers.png"))
    parser.add_argument("--layout", default=None, help="draw the first 20 misread canvases of this layout")
    parser.add_argument("--layout-out", type=Path, default=Path("runs/misread_layout.png"))
    args = parser.parse_args()
    detector = Detector.from_weights(device="cpu")
    records = {(args.data / r["image"]).resolve(): r for r in read_meta(args.data, args.split)}
    sources = digit_sources(args.data, args.split)
    kinds: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    cut_total: Counter[bool] = Counter()
    cut_failed: Counter[bool] = Counter()
    apart: list[tuple[bool, bool, bool, bool]] = []  # (80 % visible, under an object, on a digit, read)
    by_count: list[tuple[int, bool]] = []  # (digits on the canvas, read)
    numbers_read: list[tuple[bool, float, bool]] = []  # (every digit 80 % visible, boldest pen ratio, read)
    tiles = []
    why: Counter[str] = Counter()
    misnamed: list[np.ndarray] = []
    layout_tiles: list[np.ndarray] = []
    layout_kinds: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for sample in load_split(args.data, args.split).samples:
        ids = [int(c) for c in sample.class_ids]
        digits = sum(is_digit(c) for c in ids)
        if digits < 2 and not (len(ids) == 1 and digits == 1):
            continue
        record = records[sample.image_path.resolve()]
        image = read_image(sample.image_path)
        result = detector(image)
        if digits >= 2:
            total[record["layout"]] += 1
            drawn_digits = [
                o for o in record["objects"] if not o.get("dropped") and is_digit(int(o["class_id"]))
            ]
            cut = min(o["visible"] for o in drawn_digits) < CUT_VISIBLE
            cut_total[cut] += 1
            expected = read_number(ids, np.asarray(sample.boxes_xyxy))
            boldest = max(o["pen_width"] / max(o["height"], 1.0) for o in drawn_digits)
            numbers_read.append((not cut, boldest, result.number == expected))
            apart.append((not cut, *overlaps(ids, np.asarray(sample.boxes_xyxy)), result.number == expected))
            by_count.append((digits, result.number == expected))
            if result.number != expected:
                if record["layout"] == args.layout and len(layout_tiles) < 20:
                    tile = canvas_tile(image, result.detections, expected, result.number)
                    layout_tiles.append(np.asarray(tile.convert("L")))
                failed[record["layout"]] += 1
                cut_failed[cut] += 1
                kinds[failure_kind(expected, result.number)] += 1
                layout_kinds[record["layout"]][failure_kind(expected, result.number)] += 1
                shown_boxes = [d.box for d in result.detections]
                every_box = [d.box for d in detector(image, suppress_contained=False).detections]
                for index, (class_id, box) in enumerate(zip(ids, np.asarray(sample.boxes_xyxy), strict=True)):
                    if not is_digit(class_id):
                        continue
                    match, overlap = best_overlap(box, shown_boxes)
                    if overlap >= 0.5:
                        label = result.detections[match].label
                        if label != str(class_id):
                            why["shown with another name"] += 1
                            source = sources[sample.image_path.resolve()][index]
                            misnamed.append(digit_tile(image, box, f"{class_id} read {label} ({source})"))
                    elif best_overlap(box, every_box)[1] >= 0.5:
                        why["dropped by containment"] += 1
                    else:
                        why["boxed loosely (IoU 0.3-0.5)" if overlap >= 0.3 else "not boxed"] += 1
            continue
        shown = result.detections[0].label if result.detections else "nothing"
        if shown == str(ids[0]):
            continue
        drawn = next(o for o in record["objects"] if not o.get("dropped", False))
        print(
            f"{sample.image_path.name}: {ids[0]} read {shown}; visible {drawn['visible']:.2f}, pen/height "
            f"{drawn['pen_width'] / max(drawn['height'], 1.0):.2f}, {drawn['source'].get('kind')}, "
            f"{record['layout']}"
        )
        tile = image.convert("L").resize((TILE, TILE))
        ImageDraw.Draw(tile).text((2, 2), f"{ids[0]} read {shown}", fill=0)
        tiles.append(np.asarray(tile))
    numbers = sum(total.values())
    print(
        f"numbers misread: {sum(failed.values())} of {numbers}; "
        + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
    )
    for layout in sorted(total):
        kinds_there = ", ".join(f"{k} {n}" for k, n in layout_kinds[layout].most_common())
        print(f"  {layout}: {1 - failed[layout] / total[layout]:.1%} read of {total[layout]} ({kinds_there})")
    for cut, label in ((False, "every digit"), (True, "a digit under")):
        if cut_total[cut]:
            read = 1 - cut_failed[cut] / cut_total[cut]
            print(f"  {label} {CUT_VISIBLE:.0%} visible: {read:.1%} read of {cut_total[cut]}")
    for low, high in DIGIT_COUNTS:
        chosen = [read for count, read in by_count if low <= count <= high]
        if chosen:
            span = f"{low}" if low == high else f"{low}-{high}" if high < 99 else f"{low} or more"
            print(f"  {span} digits on the canvas: {sum(chosen) / len(chosen):.1%} read of {len(chosen)}")
    for label, keep in (
        ("no digit under a word or doodle", lambda visible, under, on: not under),
        (
            "no digit under a word or doodle, every digit 80% visible",
            lambda visible, under, on: visible and not under,
        ),
        (
            "... and no digit a quarter on another",
            lambda visible, under, on: visible and not under and not on,
        ),
    ):
        chosen = [read for visible, under, on, read in apart if keep(visible, under, on)]
        if chosen:
            print(f"  {label}: {sum(chosen) / len(chosen):.1%} read of {len(chosen)}")
    for bound in PEN_RATIO_BOUNDS:
        for clear_only, label in ((False, ""), (True, ", every digit 80% visible")):
            chosen = [
                read
                for visible, ratio, read in numbers_read
                if ratio <= bound and (visible or not clear_only)
            ]
            if chosen:
                share = sum(chosen) / len(chosen)
                print(
                    f"  boldest pen <= {bound:.2f} of its digit's height{label}: {share:.1%} of {len(chosen)}"
                )
    print("digits of misread numbers not shown right: " + ", ".join(f"{k} {n}" for k, n in why.most_common()))
    if misnamed:
        save_sheet(misnamed, DIGIT_TILE, 12, args.misnamed_out)
        print(f"misnamed digits of misread numbers: {len(misnamed)}, drawn in {args.misnamed_out}")
    if layout_tiles:
        save_sheet(layout_tiles, CANVAS_TILE, 5, args.layout_out)
        print(f"misread {args.layout} canvases: the first {len(layout_tiles)} drawn in {args.layout_out}")
    if tiles:
        save_sheet(tiles, TILE, 8, args.out)
        print(f"single-digit failures: {len(tiles)}, drawn in {args.out}")


if __name__ == "__main__":
    main()

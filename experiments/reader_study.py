"""Would a reader name them? The shipped model's failures on a split, read blind by someone else.

    .venv/bin/python experiments/reader_study.py make --data data/synth --split test --out runs/reader
    # a reader who sees only runs/reader/sheets/*.png writes runs/reader/answers.csv (tile,reading)
    .venv/bin/python experiments/reader_study.py score --out runs/reader [--sheet failures.png]
    .venv/bin/python experiments/reader_study.py score --out docs/reader_study   # the committed study

``make`` runs the shipped detector as the app does and cuts each drawn digit at its true box (30 % margin)
into groups: every single-digit canvas read wrong, a sample of those read right, every digit of a misread
number shown with another name, and a sample of digits shown with their name in numbers (``--groups``
picks; ``number-missed``, the digits of misread numbers that no shown box holds, is not in the default).
The tiles are shuffled together and numbered on sheets of 50, with nothing on them but the drawing and
the tile number (each crop also in ``tiles/``); which tile is which (group, label, what the model read)
goes to ``key.csv``, for ``score`` only.

``score`` compares the reader's answers (a digit, or ``?`` where the reader cannot tell which digit it is)
with the labels and with the model: a failure the reader names as labelled is a model error on a clear
digit; one the reader names as the model did, or cannot name, is a drawing the data engine made unclear.
The right-read groups say how often the reader agrees with the labels where the model does. ``--sheet``
draws one group's tiles (``--sheet-group``, default the single-digit failures) captioned with the label,
the model's reading and the reader's.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digit_detector.boxes import box_iou
from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.reading import read_number
from digit_detector.render import grid

TILE = 112
PER_SHEET = 50
GROUPS = ("single-failure", "single-right", "number-misnamed", "number-right")
# ``--groups number-missed number-right ...``: digits of misread numbers that no shown box holds at IoU 0.5
ALL_GROUPS = (*GROUPS, "number-missed")


def digit_crop(image: Image.Image, box: np.ndarray) -> Image.Image:
    """A square crop around ``box`` (30 % margin, white outside the canvas), ``TILE`` px."""
    x1, y1, x2, y2 = box.tolist()
    half = 0.65 * max(x2 - x1, y2 - y1, 8.0)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    square = Image.new("L", (round(2 * half), round(2 * half)), 255)
    left, top = round(centre_x - half), round(centre_y - half)
    square.paste(image.convert("L").crop((left, top, left + square.width, top + square.height)), (0, 0))
    # crop() pads with black outside the image: paint what lies outside the canvas white again
    pixels = np.asarray(square).copy()
    pixels[: max(0, -top), :] = 255
    pixels[:, : max(0, -left)] = 255
    pixels[max(0, image.height - top) :, :] = 255
    pixels[:, max(0, image.width - left) :] = 255
    return Image.fromarray(pixels).resize((TILE, TILE))


def make(args: argparse.Namespace) -> None:
    detector = Detector.from_weights(device="cpu")
    rng = random.Random(args.seed)
    groups: dict[str, list[tuple[Image.Image, int, str, str]]] = defaultdict(list)
    for sample in load_split(args.data, args.split).samples:
        ids = [int(c) for c in sample.class_ids]
        digits = sum(is_digit(c) for c in ids)
        boxes = np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        if len(ids) == 1 and digits == 1:
            image = read_image(sample.image_path)
            result = detector(image)
            read = result.detections[0].label if result.detections else "nothing"
            group = "single-right" if read == str(ids[0]) else "single-failure"
            groups[group].append((digit_crop(image, boxes[0]), ids[0], read, sample.image_path.name))
        elif digits >= 2:
            image = read_image(sample.image_path)
            result = detector(image)
            misread = result.number != read_number(ids, boxes)
            shown = np.asarray([d.box for d in result.detections], dtype=np.float64).reshape(-1, 4)
            overlaps = box_iou(boxes, shown) if len(shown) else np.zeros((len(ids), 0))
            for index, class_id in enumerate(ids):
                if not is_digit(class_id):
                    continue
                if not overlaps.shape[1] or overlaps[index].max() < 0.5:
                    if misread:
                        crop = digit_crop(image, boxes[index])
                        groups["number-missed"].append((crop, class_id, "nothing", sample.image_path.name))
                    continue
                read = result.detections[int(overlaps[index].argmax())].label
                if read == str(class_id):
                    group = "number-right"
                elif misread:
                    group = "number-misnamed"
                else:
                    continue
                crop = digit_crop(image, boxes[index])
                groups[group].append((crop, class_id, read, sample.image_path.name))
    for group, limit in (("single-right", args.right), ("number-right", args.right)):
        groups[group] = rng.sample(groups[group], min(limit, len(groups[group])))
    tiles = [(group, *item) for group in args.groups for item in groups[group]]
    rng.shuffle(tiles)
    sheets, crops = args.out / "sheets", args.out / "tiles"
    sheets.mkdir(parents=True, exist_ok=True)
    crops.mkdir(exist_ok=True)
    font = ImageFont.load_default(size=13)
    with (args.out / "key.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tile", "group", "label", "model", "image"])
        pictures = []
        for number, (group, crop, label, read, name) in enumerate(tiles, start=1):
            writer.writerow([number, group, label, read, name])
            crop.save(crops / f"{number:03d}.png")
            tile = Image.new("RGB", (TILE, TILE + 16), "white")
            tile.paste(crop.convert("RGB"), (0, 16))
            ImageDraw.Draw(tile).text((2, 0), f"#{number}", fill=(200, 0, 0), font=font)
            pictures.append(tile)
    for start in range(0, len(pictures), PER_SHEET):
        page = grid(pictures[start : start + PER_SHEET], 10, tile_size=(TILE, TILE + 16))
        page.save(sheets / f"sheet_{start // PER_SHEET + 1:02d}.png")
    print(f"{len(tiles)} tiles ({', '.join(f'{g} {len(groups[g])}' for g in args.groups)}) on "
          f"{(len(pictures) + PER_SHEET - 1) // PER_SHEET} sheets in {sheets}")  # fmt: skip


def score(args: argparse.Namespace) -> None:
    with (args.key or args.out / "key.csv").open() as handle:
        key = {int(row["tile"]): row for row in csv.DictReader(handle)}
    with (args.answers or args.out / "answers.csv").open() as handle:
        answers = {int(row["tile"]): row["reading"].strip() for row in csv.DictReader(handle)}
    missing = sorted(set(key) - set(answers))
    if missing:
        raise SystemExit(f"no answer for tiles {missing[:20]}{' ...' if len(missing) > 20 else ''}")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for tile, row in key.items():
        reading = answers[tile]
        counts[row["group"]]["tiles"] += 1
        if reading == row["label"]:
            counts[row["group"]]["reader names the label"] += 1
        elif reading == "?":
            counts[row["group"]]["reader cannot tell"] += 1
        elif reading == row["model"]:
            counts[row["group"]]["reader reads what the model read"] += 1
        else:
            counts[row["group"]]["reader reads a third digit"] += 1
    for group in [g for g in ALL_GROUPS if g in counts]:
        tally = counts[group]
        total = tally.pop("tiles", 0)
        parts = ", ".join(f"{name} {n} ({n / max(total, 1):.0%})" for name, n in tally.most_common())
        print(f"{group}: {total} tiles; {parts}")
    if args.sheet is not None:
        font = ImageFont.load_default(size=12)
        pictures = []
        for tile, row in sorted(key.items()):
            if row["group"] != args.sheet_group:
                continue
            picture = Image.new("RGB", (TILE, TILE + 30), "white")
            picture.paste(Image.open(args.out / "tiles" / f"{tile:03d}.png").convert("RGB"), (0, 30))
            caption = f"{row['label']} read {row['model']}\nreader: {answers[tile]}"
            ImageDraw.Draw(picture).multiline_text((2, 0), caption, fill=(0, 0, 160), font=font, spacing=1)
            pictures.append(picture)
        grid(pictures, 8, tile_size=(TILE, TILE + 30)).save(args.sheet)
        print(f"wrote {args.sheet}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    maker = commands.add_parser("make")
    maker.add_argument("--data", type=Path, required=True)
    maker.add_argument("--split", default="test")
    maker.add_argument("--out", type=Path, default=Path("runs/reader"))
    maker.add_argument("--right", type=int, default=100, help="tiles sampled from each right-read group")
    maker.add_argument("--seed", type=int, default=0)
    maker.add_argument("--groups", nargs="+", choices=ALL_GROUPS, default=list(GROUPS))
    scorer = commands.add_parser("score")
    scorer.add_argument("--out", type=Path, default=Path("runs/reader"))
    scorer.add_argument("--key", type=Path, default=None, help="default: OUT/key.csv")
    scorer.add_argument("--answers", type=Path, default=None, help="default: OUT/answers.csv")
    scorer.add_argument("--sheet", type=Path, default=None, help="one group's tiles, captioned")
    scorer.add_argument("--sheet-group", choices=ALL_GROUPS, default="single-failure")
    args = parser.parse_args()
    make(args) if args.command == "make" else score(args)


if __name__ == "__main__":
    main()

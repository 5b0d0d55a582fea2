"""Would a reader read the whole canvas? The numbers the shipped model misreads, read blind by someone else.

    .venv/bin/python experiments/canvas_reader_study.py make --data data/synth --split test
    # readers who see only runs/canvas_reader/sheets/*.png write runs/canvas_reader/answers.csv (tile,reading)
    .venv/bin/python experiments/canvas_reader_study.py score --out runs/canvas_reader [--sheet misread.png]

``reader_study.py`` asks about single digits cut out at their true boxes. The numbers target counts whole
canvases, so this study shows the reader whole canvases: every canvas with two or more digits that the
shipped model misreads, and a sample of those it reads right (``--right``), shuffled together and numbered
on sheets of six, with nothing on them but the drawing and its number. Which canvas is which (group, the
number drawn, what the model read, layout) goes to ``key.csv``, for ``score`` only.

The reader writes the digits of each canvas line by line as the reading rule does (``reading.py``: lines
top to bottom, each left to right, joined by ``/``), leaves out letters, words and drawings, and writes
``?`` for a digit it cannot tell. ``score`` counts the canvases the reader reads exactly as drawn, and as
drawn but for the line breaks; the right-read group says how strict the reader is where the model is right.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digit_detector.classes import is_digit
from digit_detector.data.yolo_format import load_split, read_meta
from digit_detector.detector import Detector
from digit_detector.io import read_image
from digit_detector.reading import read_number
from digit_detector.render import grid

TILE = 400
PER_SHEET = 6
CAPTIONED = 260  # canvas side on the captioned sheet of `score --sheet`
GROUPS = ("misread", "right")


def lined(number: str) -> str:
    """A number as the sheets and answers write it: lines joined by ``/``."""
    return number.replace("\n", "/")


def make(args: argparse.Namespace) -> None:
    detector = Detector.from_weights(device="cpu")
    rng = random.Random(args.seed)
    layouts = {Path(record["image"]).name: record["layout"] for record in read_meta(args.data, args.split)}
    groups: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    samples = load_split(args.data, args.split).samples
    for sample in samples:
        ids = [int(c) for c in sample.class_ids]
        if sum(is_digit(c) for c in ids) < 2:
            continue
        expected = read_number(ids, np.asarray(sample.boxes_xyxy, dtype=np.float64).reshape(-1, 4))
        read = detector(read_image(sample.image_path)).number
        group = "right" if read == expected else "misread"
        groups[group].append(
            (str(sample.image_path), lined(expected), lined(read), layouts[sample.image_path.name])
        )
    groups["right"] = rng.sample(groups["right"], min(args.right, len(groups["right"])))
    tiles = [(group, *item) for group in GROUPS for item in groups[group]]
    rng.shuffle(tiles)
    sheets = args.out / "sheets"
    sheets.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=22)
    pictures = []
    with (args.out / "key.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tile", "group", "drawn", "model", "layout", "image"])
        for number, (group, path, expected, read, layout) in enumerate(tiles, start=1):
            writer.writerow([number, group, expected, read, layout, Path(path).name])
            tile = Image.new("RGB", (TILE, TILE + 28), "white")
            tile.paste(read_image(Path(path)).convert("RGB").resize((TILE, TILE)), (0, 28))
            pen = ImageDraw.Draw(tile)
            pen.text((4, 2), f"#{number}", fill=(200, 0, 0), font=font)
            pen.rectangle((0, 28, TILE - 1, TILE + 27), outline=(120, 120, 120))
            pictures.append(tile)
    for start in range(0, len(pictures), PER_SHEET):
        page = grid(pictures[start : start + PER_SHEET], 3, tile_size=(TILE, TILE + 28), gap=12)
        page.save(sheets / f"sheet_{start // PER_SHEET + 1:02d}.png")
    counts = ", ".join(f"{group} {len(groups[group])}" for group in GROUPS)
    print(f"{len(tiles)} canvases ({counts}) on {-(-len(pictures) // PER_SHEET)} sheets in {sheets}")


def score(args: argparse.Namespace) -> None:
    with (args.key or args.out / "key.csv").open() as handle:
        key = {int(row["tile"]): row for row in csv.DictReader(handle)}
    answers: dict[int, str] = {}
    for path in args.answers or sorted(args.out.glob("answers*.csv")):
        with path.open() as handle:
            answers.update({int(row["tile"]): row["reading"].strip() for row in csv.DictReader(handle)})
    missing = sorted(set(key) - set(answers))
    if missing:
        raise SystemExit(f"no answer for canvases {missing[:20]}{' ...' if len(missing) > 20 else ''}")
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    by_layout: dict[str, Counter[str]] = defaultdict(Counter)
    for tile, row in key.items():
        reading, drawn = answers[tile].replace(" ", ""), row["drawn"]
        tally = counts[row["group"]]
        tally["canvases"] += 1
        exact = reading == drawn
        tally["reader reads it as drawn"] += exact
        tally["as drawn but for the line breaks"] += reading.replace("/", "") == drawn.replace("/", "")
        tally["reader marks a digit it cannot tell (?)"] += "?" in reading
        tally["reader reads what the model read"] += reading == row["model"] and not exact
        if row["group"] == "misread":
            by_layout[row["layout"]]["canvases"] += 1
            by_layout[row["layout"]]["as drawn"] += exact
    for group in GROUPS:
        tally = counts[group]
        total = tally.pop("canvases", 0)
        parts = "; ".join(f"{name} {n} ({n / max(total, 1):.0%})" for name, n in tally.items())
        print(f"{group}: {total} canvases; {parts}")
    print("misread canvases the reader reads as drawn, by layout:")
    for layout, tally in sorted(by_layout.items()):
        print(f"  {layout}: {tally['as drawn']} of {tally['canvases']}")
    if args.json is not None:
        args.json.write_text(json.dumps({g: dict(counts[g]) for g in GROUPS}, indent=2) + "\n")
    if args.sheet is not None:
        font = ImageFont.load_default(size=15)
        pictures = []
        for tile, row in sorted(key.items()):
            if row["group"] != "misread" or answers[tile].replace(" ", "") != row["drawn"]:
                continue
            picture = Image.new("L", (CAPTIONED, CAPTIONED + 54), "white")
            canvas = read_image(args.data / "images" / args.split / row["image"]).convert("L")
            picture.paste(canvas.resize((CAPTIONED, CAPTIONED)), (0, 54))
            caption = f"drawn {row['drawn']}\nmodel {row['model']}\nreader {answers[tile]}"
            ImageDraw.Draw(picture).multiline_text((4, 2), caption, fill=0, font=font, spacing=1)
            pictures.append(picture)
        grid(pictures, 6, tile_size=(CAPTIONED, CAPTIONED + 54)).convert("L").save(args.sheet, optimize=True)
        print(f"the misread canvases the reader reads as drawn: {len(pictures)}, drawn in {args.sheet}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    maker = commands.add_parser("make", help="the sheets and their key")
    maker.add_argument("--data", type=Path, required=True)
    maker.add_argument("--split", default="test")
    maker.add_argument("--out", type=Path, default=Path("runs/canvas_reader"))
    maker.add_argument("--right", type=int, default=100, help="canvases sampled from those read right")
    maker.add_argument("--seed", type=int, default=0)
    scorer = commands.add_parser("score", help="the answers against the key")
    scorer.add_argument("--out", type=Path, default=Path("runs/canvas_reader"))
    scorer.add_argument("--key", type=Path, default=None, help="default: OUT/key.csv")
    scorer.add_argument("--answers", type=Path, nargs="+", default=None, help="default: OUT/answers*.csv")
    scorer.add_argument("--json", type=Path, default=None, help="the counts as JSON")
    scorer.add_argument("--data", type=Path, default=Path("data/synth"), help="for --sheet: the canvases")
    scorer.add_argument("--split", default="test")
    scorer.add_argument("--sheet", type=Path, default=None, help="the misread canvases the reader reads")
    args = parser.parse_args()
    if args.command == "make":
        make(args)
    else:
        score(args)


if __name__ == "__main__":
    main()

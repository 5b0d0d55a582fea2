"""How well namers read fonts they never saw: true boxes of a ``--more-fonts`` val split, font by font.

    .venv/bin/python -m digit_detector data synth --out data/valfonts --split val --n 1500 --seed 62 \
        --workers 2 --more-fonts
    .venv/bin/python experiments/unseen_fonts.py --data data/valfonts \
        --namers weights/yolov3-tiny.namer.safetensors runs/namer-fonts/namer.safetensors \
        --sheet runs/unseen_fonts.png

Such a val split draws its font digits only from ``sources.MORE_VAL_FONTS``, six fonts no training split
draws (the test split's held-out fonts play the same part there). For each namer, prints the share of true
boxes named right by source and, for font digits, by font; ``--sheet`` draws the font digits the last
namer misnames (each crop as the namer sees it, titled with the truth and the name it gave).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from digit_detector.classes import CLASS_NAMES, is_digit
from digit_detector.data.yolo_format import boxed_objects, load_split
from digit_detector.naming import classifiers_of, load_namer
from digit_detector.training.crop_sets import canvas_crop_set
from digit_detector.training.namer import accuracy_by_kind, predict_crop_set


def box_fonts(root: Path, split: str) -> list[str]:
    """The font of each true box in :func:`canvas_crop_set`'s order ("" for a box not from a font)."""
    objects_by_image = boxed_objects(root, split)
    fonts: list[str] = []
    for sample in load_split(root, split).samples:
        objects = objects_by_image.get(sample.image_path.resolve(), [])
        if len(objects) != len(sample.class_ids):
            objects = [{}] * len(sample.class_ids)
        for obj in objects:
            source = obj.get("source", {})
            digit = is_digit(int(obj.get("class_id", 11)))
            fonts.append(str(source.get("font", "")) if digit and source.get("kind") == "font" else "")
    return fonts


def misnamed_sheet(crops: torch.Tensor, titles: list[str], columns: int = 10, cell: int = 84) -> Image.Image:
    rows = max(1, -(-len(titles) // columns))
    sheet = Image.new("L", (columns * cell, rows * (cell + 14)), 200)
    draw = ImageDraw.Draw(sheet)
    for number, (crop, title) in enumerate(zip(crops, titles, strict=True)):
        x, y = (number % columns) * cell, (number // columns) * (cell + 14)
        ink = (255 - crop[0].clamp(0, 1).mul(255)).byte().numpy()
        sheet.paste(
            Image.fromarray(ink).resize((cell - 4, cell - 4), Image.Resampling.NEAREST), (x + 2, y + 14)
        )
        draw.text((x + 2, y + 1), title[:16], fill=0)
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--namers", type=Path, nargs="+", required=True)
    parser.add_argument("--sheet", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    crop_set = canvas_crop_set(args.data, args.split)
    fonts = np.asarray(box_fonts(args.data, args.split))
    names = sorted(set(fonts) - {""})
    for path in args.namers:
        namer, _ = load_namer(path)
        probs = predict_crop_set(namer, crop_set)
        right = (probs.argmax(dim=1) == crop_set.labels).numpy()
        report = accuracy_by_kind(probs, crop_set)
        kinds = ", ".join(f"{k} {v['accuracy']:.2%} of {v['boxes']}" for k, v in report["by_kind"].items())
        print(f"{path}: {report['accuracy']:.2%} of {report['boxes']} true boxes ({kinds})")
        by_font = {name: right[fonts == name] for name in names}
        print("  font digits: " + ", ".join(f"{n} {v.mean():.1%} ({len(v)})" for n, v in by_font.items()))
    if args.sheet is not None:
        wrong = np.flatnonzero((fonts != "") & ~right)
        rows = torch.from_numpy(wrong)
        crops = crop_set.crops(rows, classifiers_of(namer)[0].config)
        given = probs[rows].argmax(dim=1).tolist()
        label = [*CLASS_NAMES, "reject"]
        titles = [
            f"{label[int(crop_set.labels[r])]}>{label[g]} {fonts[r]}"
            for r, g in zip(wrong, given, strict=True)
        ]
        misnamed_sheet(crops, titles).save(args.sheet)
        print(f"wrote {args.sheet} ({len(titles)} misnamed font digits)")


if __name__ == "__main__":
    main()

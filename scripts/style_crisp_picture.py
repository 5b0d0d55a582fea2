"""docs/style_crisp.png: drawn test-split digits, their old soft row ("before") and the crisp row ("after").

python scripts/style_crisp_picture.py
"""

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from digit_detector.data.objects import ObjectFactory
from digit_detector.style.analogy import style_row
from digit_detector.style.model import load_style_model, style_strength

torch.set_num_threads(1)
model, record = load_style_model(None)
strength = style_strength(record)


def drawing(digit: int, seed: int, height: float, pen: float) -> NDArray[np.uint8]:
    """A white 400x400 RGB canvas with one test-split digit drawn in black, centred."""
    ink = ObjectFactory("test", np.random.default_rng(seed)).digit(digit, height, pen).ink
    g = np.full((400, 400), 255, np.uint8)
    y, x = 200 - ink.shape[0] // 2, 200 - ink.shape[1] // 2
    g[y : y + ink.shape[0], x : x + ink.shape[1]] = np.rint(255 - ink * 255).astype(np.uint8)
    return np.repeat(g[:, :, None], 3, 2)


inputs = [(4, 1, 150, 6), (2, 3, 160, 14), (7, 5, 300, 25), (9, 2, 120, 4)]
font = ImageFont.load_default(size=15)
rows: list[Image.Image] = []
for digit, seed, height, pen in inputs:
    img = drawing(digit, seed, height, pen)
    for render, caption in (("soft", "before"), ("crisp", "after")):
        row = style_row(model, img, None, digit, strength=strength, render=render).image(72, with_input=True)
        band = Image.new("RGB", (row.width + 70, row.height), (225, 225, 230))
        band.paste(row, (70, 0))
        ImageDraw.Draw(band).text((8, row.height // 2 - 12), caption, fill=(40, 40, 40), font=font)
        rows.append(band)
sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows) + 6 * (len(inputs) - 1)), "white")
y = 0
for k, r in enumerate(rows):
    sheet.paste(r, (0, y))
    y += r.height + (6 if k % 2 else 0)
sheet.save("docs/style_crisp.png", optimize=True)
print(sheet.size)

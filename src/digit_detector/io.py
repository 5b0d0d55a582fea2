"""Reading image files: the one place an image path becomes pixels.

Every reader decodes the whole file before returning, so a truncated or corrupt image fails here, as an
``ImageInputError`` with a one-sentence message, and not later inside the detector or a dataset writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from digit_detector.preprocess import ImageInputError

# modes whose pixels ``read_pixels`` returns as they are; any other mode is converted to RGB or RGBA
_ARRAY_MODES = ("L", "RGB", "RGBA")


def read_image(path: Path) -> Image.Image:
    """Open and fully decode an image in its file's mode; ``ImageInputError`` if missing or unreadable."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError:
        raise ImageInputError(f"no such file: {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"cannot read {path} as an image ({error})") from None


def on_white(image: Image.Image) -> Image.Image:
    """The image as RGBA composited on an opaque white background (canvas exports are transparent)."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    background.alpha_composite(rgba)
    return background


def read_gray(path: Path) -> NDArray[np.uint8]:
    """An image file as 8-bit gray (h, w), transparent pixels composited on white."""
    return np.asarray(on_white(read_image(path)).convert("L"), dtype=np.uint8)


def read_pixels(path: Path) -> NDArray[np.uint8]:
    """An image file's pixels as 8-bit L (h, w), RGB or RGBA (h, w, c); alpha is kept, never composited.

    Other modes become RGBA when they carry transparency (an alpha band or a transparent palette entry),
    RGB otherwise.
    """
    image = read_image(path)
    if image.mode not in _ARRAY_MODES:
        transparent = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if transparent else "RGB")
    return np.asarray(image, dtype=np.uint8)

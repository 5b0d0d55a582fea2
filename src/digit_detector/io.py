"""Reading image files: the one place an image path becomes pixels.

Every reader decodes the whole file before returning, so a truncated or corrupt image fails here, as an
``ImageInputError`` with a one-sentence message, and not later inside the detector or a dataset writer. An
image of more than :data:`MAX_IMAGE_PIXELS` pixels is refused from its header, before anything is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from digit_detector.data.limits import MAX_IMAGE_PIXELS
from digit_detector.preprocess import HIGH_BIT_MODES, ImageInputError, to_uint8

# MAX_IMAGE_PIXELS (40 megapixels, data/limits.py: one limit for every image the project reads): the most
# pixels :func:`read_image` decodes, e.g. an 8000x5000 photo. The app's canvas is 400x400 (0.16 megapixels)
# and the model sees 192x192, so nothing larger helps the detector; 40 megapixels still takes any photo or
# scan of a drawing and bounds what one file costs. A header states the size, and 76 kB of PNG can claim
# 20000x20000 pixels (a decompression bomb): Pillow's own limit, 179 megapixels, lets through images that
# decode to gigabytes. At the limit (8000x5000 RGBA) ``predict`` peaks at about 1460 MiB, 700 MiB over its
# 760 MiB on the app's canvas (torch on the CPU; ``scripts/benchmark.py --memory``).

IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".webp",
    ".pbm", ".pgm", ".ppm", ".pnm", ".tga", ".ico", ".qoi",
)  # fmt: skip
"""The file suffixes (lower case) of the image formats :func:`read_image` reads: what a folder given to
``predict`` expands to. Any file Pillow identifies is read when named on its own."""

_OVER_LIMIT = (
    f"more than the {MAX_IMAGE_PIXELS:,} pixels ({MAX_IMAGE_PIXELS / 1e6:g} megapixels) an image may have: "
    "scale it down first"
)
# modes whose pixels ``read_pixels`` returns as they are; any other mode is converted to RGB or RGBA
_ARRAY_MODES = ("L", "RGB", "RGBA")


def is_image_file(path: Path) -> bool:
    """Whether ``path``'s suffix is one of :data:`IMAGE_SUFFIXES` (any case) and it is not a hidden file."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def check_size(path: Path | str, size: tuple[int, int]) -> None:
    """``ImageInputError`` when an image of ``size`` (width, height) is over :data:`MAX_IMAGE_PIXELS`."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageInputError(f"{path} is {width}x{height} pixels, {_OVER_LIMIT}")


def read_image(path: Path) -> Image.Image:
    """Open and fully decode an image; ``ImageInputError`` if missing, unreadable or over the size limit.

    The image keeps its file's mode, at 8 bits per channel: 16-bit and 32-bit gray (PNG, TIFF: PIL modes
    ``I;16``, ``I``, ``F``) become ``L`` scaled down (as :func:`~digit_detector.preprocess.to_uint8` does),
    not clipped to white. Only the first frame of an animated or multi-page file is read. An image over
    :data:`MAX_IMAGE_PIXELS` is refused from its header, before anything is decoded.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns on stderr about sizes (said below in one sentence) and about what it recovers
            # from (truncated EXIF, an invalid APNG chunk): the image is read or refused here, quietly
            warnings.simplefilter("ignore")
            image = Image.open(path)
            detached = False
            try:
                check_size(path, image.size)
                image.load()
                if image.mode in HIGH_BIT_MODES:
                    return Image.fromarray(to_uint8(np.asarray(image), sixteen_bit=image.mode != "F"), "L")
                if getattr(image, "fp", None) is None:  # Pillow closed the file after decoding: no copy
                    detached = True
                    return image
                return image.copy()  # a multi-frame file (GIF, TIFF) stays open: copy the frame, close it
            finally:
                if not detached:
                    image.close()
    except ImageInputError:
        raise
    except FileNotFoundError:
        raise ImageInputError(f"no such file: {path}") from None
    except Image.DecompressionBombError:  # over Pillow's own limit (twice 89 megapixels), far over ours
        raise ImageInputError(f"{path} has {_OVER_LIMIT}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageInputError(f"cannot read {path} as an image ({_reason(error)})") from None
    except Exception as error:  # a decoder's own slip on hostile bytes (struct.error, IndexError, ...)
        raise ImageInputError(f"cannot read {path} as an image ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    """An exception as a short clause: its message's first line, or its type when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


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

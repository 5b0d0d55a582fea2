"""Square digit crops for the style model: drawn like the app's canvas, and cut from any drawing.

A crop is ``size`` x ``size`` float32 ink (1 = black pen, 0 = paper): the digit's tight ink box scaled,
keeping its aspect, so that its longer side spans ``size - 2 * margin`` pixels, centred. Training crops
come from :class:`~digit_detector.data.objects.ObjectFactory` (re-inked MNIST, handwriting and Hershey
fonts, per split exactly as the detector's canvases) with random digit heights and pen widths like the
app's; user drawings go through :func:`digit_detector.preprocess.to_rgb`, the one image loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from digit_detector.preprocess import ImageLike, to_rgb

CROP_SIZE = 32
CROP_MARGIN = 2
INK_LEVEL = 0.25  # ink above this counts for the tight box (as in data.objects)
HEIGHT_RANGE = (80.0, 200.0)  # digit ink height on the 400 px canvas
PEN_RANGE = (3.0, 25.0)  # the app's pen-width slider
MAX_PEN_FRACTION = 0.2  # a pen wider than this fraction of the height draws a blob nobody could read
CACHE_VERSION = 1
DEFAULT_DATA = Path("data") / "style"  # the crop cache, relative to the working directory
TRAIN_SEED, VAL_SEED, TEST_SEED = 1, 2, 3  # crop seeds per split (style train, style eval)

Ink = NDArray[np.float32]


class NoInkError(ValueError):
    """The image (or the chosen box of it) has no ink to take a style from."""


@dataclass(frozen=True)
class CropSet:
    """Crops ``(N, S, S)`` uint8 (255 = full ink) and their digit labels ``(N,)``."""

    images: NDArray[np.uint8]
    labels: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.labels)

    def ink(self) -> Ink:
        """The crops as float32 ink 0..1."""
        return self.images.astype(np.float32) / 255.0


def image_ink(image: ImageLike) -> Ink:
    """Any image (numpy/PIL, RGBA composited on white, RGB, gray) as float32 ink: 1 - gray / 255."""
    gray = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2GRAY)
    return 1.0 - gray.astype(np.float32) / 255.0


def tight_box(ink: Ink, level: float = INK_LEVEL) -> tuple[int, int, int, int] | None:
    """``(x1, y1, x2, y2)`` (exclusive ends) of the ink above ``level``; None when there is none."""
    mask = ink > level
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def normalise_crop(ink: Ink, size: int = CROP_SIZE, margin: int = CROP_MARGIN) -> Ink:
    """Tight-crop ``ink`` and fit it, keeping its aspect, centred in a ``size`` x ``size`` square."""
    box = tight_box(ink)
    if box is None:
        raise NoInkError("no ink to take a style from: draw a digit first")
    x1, y1, x2, y2 = box
    tight = np.ascontiguousarray(ink[y1:y2, x1:x2], dtype=np.float32)
    h, w = tight.shape
    inner = size - 2 * margin
    scale = inner / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(tight, (new_w, new_h), interpolation=interpolation)
    out = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.clip(resized, 0.0, 1.0)
    return out


def crop_from_image(
    image: ImageLike, box: tuple[float, float, float, float] | None = None, size: int = CROP_SIZE
) -> Ink:
    """The model's crop of a drawing, or of the ``box`` (x1, y1, x2, y2 px, e.g. a detection) in it."""
    ink = image_ink(image)
    if box is not None:
        h, w = ink.shape
        x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
        if x2 <= x1 or y2 <= y1:
            raise NoInkError(f"the box {tuple(round(v) for v in box)} lies outside the {w}x{h} image")
        ink = ink[y1:y2, x1:x2]
    return normalise_crop(ink, size)


def make_crops(
    split: str,
    n: int,
    seed: int,
    size: int = CROP_SIZE,
    *,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> CropSet:
    """``n`` digit crops of ``split`` (labels balanced, shuffled), deterministic given ``seed``."""
    from tqdm import tqdm

    from digit_detector.data.objects import ObjectFactory

    rng = np.random.default_rng(seed)
    factory = ObjectFactory(split, rng, cache_dir)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    images = np.zeros((n, size, size), dtype=np.uint8)
    for index in tqdm(range(n), desc=f"{split} crops", unit="crop", disable=not progress, mininterval=2.0):
        height = float(rng.uniform(*HEIGHT_RANGE))
        pen = float(
            rng.uniform(PEN_RANGE[0], max(PEN_RANGE[0], min(PEN_RANGE[1], MAX_PEN_FRACTION * height)))
        )
        drawn = factory.digit(int(labels[index]), height, pen)
        images[index] = np.rint(normalise_crop(drawn.ink, size) * 255.0).astype(np.uint8)
    return CropSet(images, labels)


def crops_cache_path(root: Path, split: str, n: int, seed: int, size: int = CROP_SIZE) -> Path:
    return Path(root) / f"crops-v{CACHE_VERSION}-{split}-n{n}-s{size}-seed{seed}.npz"


def load_or_make_crops(
    root: Path, split: str, n: int, seed: int, size: int = CROP_SIZE, *, progress: bool = True
) -> CropSet:
    """The crops from ``root``'s .npz cache, made (and cached) first when missing."""
    path = crops_cache_path(root, split, n, seed, size)
    if path.is_file():
        with np.load(path) as data:
            return CropSet(data["images"], data["labels"])
    crops = make_crops(split, n, seed, size, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, images=crops.images, labels=crops.labels)
    tmp.replace(path)
    return crops

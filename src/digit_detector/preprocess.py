"""The single preprocessing path: any user image -> the model's 192x192 input tensor.

Training, evaluation, the CLI and the app all call :func:`preprocess` (or :func:`to_rgb` +
:func:`letterbox` + :func:`to_tensor`, which it is made of), so the model always sees pixels
prepared the same way: RGB, white background, letterboxed to ``input_size`` with area
interpolation, scaled to ``pixel / 255`` (the original training normalisation: mean 0, std 1).
:func:`preprocess_array` is the same as a numpy array (what the Detector feeds its backends): it needs no
torch, and :func:`to_tensor` is its pixels wrapped as a tensor, so both give the same values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from digit_detector.boxes import is_tensor

if TYPE_CHECKING:
    import torch

INPUT_SIZE = 192

ImageLike = NDArray[np.generic] | Image.Image
BoxArray = TypeVar("BoxArray", "torch.Tensor", NDArray[Any])


#: PIL modes of more than 8 bits per pixel (16-bit gray from PNG and TIFF, 32-bit integer and float gray):
#: :func:`to_rgb` and :func:`digit_detector.io.read_image` scale them to 8-bit ``L`` (PIL's own conversion
#: clips them, so mid-grey ink turns white).
HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


class ImageInputError(ValueError):
    """An image the detector cannot use (wrong shape, dtype or empty)."""


@dataclass(frozen=True)
class Letterbox:
    """How an image of ``original_size`` (h, w) was placed into the square model input."""

    original_size: tuple[int, int]
    input_size: int
    scale: float
    pad_x: float
    pad_y: float

    def to_original(self, boxes_xyxy: BoxArray) -> BoxArray:
        """Map boxes from model-input pixels back to original-image pixels (clipped to the image); a tensor
        or a numpy array in, the same out."""
        h, w = self.original_size
        if not is_tensor(boxes_xyxy):
            boxes = np.asarray(boxes_xyxy)
            pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], dtype=boxes.dtype)
            return np.minimum(np.maximum((boxes - pad) / self.scale, 0), np.array([w, h, w, h], boxes.dtype))
        import torch

        offset = boxes_xyxy.new_tensor([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        out = (boxes_xyxy - offset) / self.scale
        limits = boxes_xyxy.new_tensor([w, h, w, h])
        return torch.minimum(out.clamp(min=0), limits)

    def to_input(self, boxes_xyxy: NDArray[np.floating]) -> NDArray[np.float64]:
        """Map boxes from original-image pixels to model-input pixels."""
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])
        return np.asarray(boxes_xyxy, dtype=np.float64) * self.scale + offset


def to_uint8(array: NDArray[np.generic], *, sixteen_bit: bool | None = None) -> NDArray[np.uint8]:
    """Pixel values of any type as 8-bit, scaled rather than clipped, so that mid-grey stays mid-grey.

    - uint8: as they are; bool: 0 or 255;
    - uint16: 16-bit values, their high byte kept (``>> 8``: 65535 -> 255, 32896 -> 128, and a value
      ``v * 257`` back to ``v``, so a 16-bit image made from an 8-bit one reads exactly as it);
    - other integers (int32 from a PIL ``I`` image, int64 from ``np.array``): 8-bit values 0..255 when
      none exceeds 255, else 16-bit values as for uint16 (clipped to 0..65535 first); ``sixteen_bit``
      forces one reading (True: 16-bit, False: 8-bit);
    - floats: 0..1 (``sixteen_bit`` does not apply); NaN or infinite values are an ``ImageInputError``.
    """
    if array.dtype == np.uint8:
        return np.asarray(array, dtype=np.uint8)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageInputError("the image contains NaN or infinite pixel values")
        return np.clip(np.asarray(array, dtype=np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if not np.issubdtype(array.dtype, np.integer):
        raise ImageInputError(f"unsupported pixel type {array.dtype}")
    if sixteen_bit is None:
        sixteen_bit = array.dtype == np.uint16 or (array.size > 0 and int(array.max()) > 255)
    if not sixteen_bit:
        return np.clip(array, 0, 255).astype(np.uint8)
    if array.dtype != np.uint16:
        array = np.clip(array, 0, 65535)
    return np.right_shift(array, 8).astype(np.uint8)  # one temporary of the input's size


def to_rgb(image: ImageLike) -> NDArray[np.uint8]:
    """Return an HxWx3 uint8 RGB array with a white background.

    Accepts PIL images of any mode and numpy arrays shaped HxW (grayscale), HxWx1, HxWx3 (RGB)
    or HxWx4 (RGBA, e.g. the drawing canvas: composited onto white so transparent = paper).
    Pixel values become 8-bit as :func:`to_uint8` says: 16-bit images (PIL ``I;16``/``I;16B``/``I``,
    uint16 arrays, wider integers above 255) are scaled down, not clipped; float arrays (and PIL ``F``)
    are taken as 0..1.
    """
    if isinstance(image, Image.Image):
        if image.mode in HIGH_BIT_MODES:
            image = Image.fromarray(to_uint8(np.asarray(image), sixteen_bit=image.mode != "F"), "L")
        try:
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
            elif image.mode != "RGB":
                image = image.convert("RGB")
        except (ValueError, OSError) as error:  # a mode Pillow opens but cannot convert (e.g. LAB)
            raise ImageInputError(f"cannot convert a {image.mode} image to RGB ({error})") from None
        array: NDArray[np.generic] = np.asarray(image)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise ImageInputError(f"expected a numpy array or PIL image, got {type(image).__name__}")

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageInputError(
            f"expected an image shaped HxW, HxWx1, HxWx3 or HxWx4, got an array of shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageInputError(f"the image is empty (shape {array.shape})")

    array = to_uint8(array)
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
    if array.shape[2] == 4:
        # alpha compositing onto white: 255 - (255 - rgb) * a / 255, i.e. the inverted colours premultiplied
        # by alpha ("ink"), inverted back; OpenCV's rounding premultiply is 5x faster than separate ops. In
        # place where it can be (the caller's array is never written): one RGBA and one RGB buffer at a time
        rgba = np.ascontiguousarray(array, dtype=np.uint8)
        ink = cv2.bitwise_not(rgba)
        ink[:, :, 3] = rgba[:, :, 3]
        cv2.cvtColor(ink, cv2.COLOR_RGBA2mRGBA, dst=ink)
        rgb = cv2.cvtColor(ink, cv2.COLOR_RGBA2RGB)
        del ink
        return np.asarray(cv2.bitwise_not(rgb, dst=rgb), dtype=np.uint8)
    return np.ascontiguousarray(array, dtype=np.uint8)


def grey_plane(rgb: NDArray[np.uint8]) -> NDArray[np.uint8] | None:
    """The one channel of an HxWx3 image whose three channels are equal (a drawing in black or grey ink
    on white, as the app's canvas sends it); None when they differ or the image is not HxWx3."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        return None
    # the red plane, spread back over three channels, is the image exactly when its channels are equal
    # (half the time of splitting the planes and comparing them)
    red = cv2.extractChannel(rgb, 0)
    if cv2.norm(cv2.cvtColor(red, cv2.COLOR_GRAY2RGB), rgb, cv2.NORM_INF) != 0:
        return None
    return np.asarray(red, dtype=np.uint8)


def on_each_channel(
    image: NDArray[np.uint8], operation: Callable[[NDArray[np.uint8]], NDArray[np.uint8]]
) -> NDArray[np.uint8]:
    """``operation`` (a per-channel OpenCV resize or warp) applied to ``image``: to its grey plane once,
    stacked three times, when it is HxWx3 with equal channels (:func:`grey_plane`), else to the image as it
    is. The same pixels either way (OpenCV treats channels apart), in under half the time for a grey
    drawing."""
    plane = grey_plane(image)
    if plane is None:
        return np.asarray(operation(image), dtype=np.uint8)
    done = operation(plane)
    return np.asarray(cv2.merge((done, done, done)), dtype=np.uint8)


def letterbox(rgb: NDArray[np.uint8], input_size: int = INPUT_SIZE) -> tuple[NDArray[np.uint8], Letterbox]:
    """Resize keeping the aspect ratio and pad with white to a square ``input_size`` image.

    A square canvas (the app's 400x400) is simply resized, with no padding.
    """
    h, w = rgb.shape[:2]
    scale = input_size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = on_each_channel(
        rgb,
        lambda plane: np.asarray(cv2.resize(plane, (new_w, new_h), interpolation=interpolation), np.uint8),
    )
    pad_x, pad_y = (input_size - new_w) // 2, (input_size - new_h) // 2
    canvas = np.full((input_size, input_size, 3), 255, dtype=np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    # exact per-axis scale: boxes map back to the original pixels without drift
    transform = Letterbox((h, w), input_size, new_w / w if w >= h else new_h / h, float(pad_x), float(pad_y))
    return canvas, transform


def to_array(square_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """HxWx3 uint8 -> 3xHxW float32 in 0..1 (pixel / 255), as a numpy array."""
    return np.ascontiguousarray(square_rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def to_tensor(square_rgb: NDArray[np.uint8]) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float32 in 0..1 (pixel / 255): :func:`to_array` as a tensor."""
    import torch

    return torch.from_numpy(to_array(square_rgb))


def preprocess_array(image: ImageLike, input_size: int = INPUT_SIZE) -> tuple[NDArray[np.float32], Letterbox]:
    """Any image -> (1x3xSxS model input as a numpy array, the letterbox that maps boxes back)."""
    square, transform = letterbox(to_rgb(image), input_size)
    return to_array(square)[None], transform


def preprocess(image: ImageLike, input_size: int = INPUT_SIZE) -> tuple[torch.Tensor, Letterbox]:
    """Any image -> (1x3xSxS model input tensor, the letterbox that maps boxes back)."""
    import torch

    array, transform = preprocess_array(image, input_size)
    return torch.from_numpy(array), transform

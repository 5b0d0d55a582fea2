"""The one place boxes change format: COCO, Pascal VOC (xyxy) and YOLO, for numpy and torch.

Formats (the strings are the :data:`BoxFormat` names):

- ``"coco"``: ``[x, y, w, h]`` in pixels (top-left corner and size);
- ``"pascal_voc"``: ``[x1, y1, x2, y2]`` in pixels (a.k.a. xyxy);
- ``"yolo"``: ``[xc, yc, w, h]`` normalised to 0..1 by the image width and height.

Every function takes a numpy array or a torch tensor of shape ``(..., 4)`` and returns the same
type with a float dtype: floating inputs keep their dtype (float32 stays float32), integer inputs
become float64 (numpy) or torch's default float dtype (torch). ``image_size`` is always
``(width, height)``. Conversions are vectorised and do not validate their input (they are hot
paths); call :func:`validate` (or ``convert(..., validate_input=True)``) where input is untrusted.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import torch
    from typing_extensions import TypeIs

BoxFormat = Literal["coco", "pascal_voc", "yolo"]
BOX_FORMATS: tuple[BoxFormat, ...] = get_args(BoxFormat)

Boxes = TypeVar("Boxes", "torch.Tensor", NDArray[Any])


class InvalidBoxError(ValueError):
    """Boxes that are malformed: wrong shape, non-finite, empty or outside the image.

    ``index`` (the offending box's index, ``None`` for shape errors), ``box`` (its values) and
    ``reason`` are kept as attributes.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | tuple[int, ...] | None = None,
        box: list[float] | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.index = index
        self.box = box
        self.reason = reason or message


# --------------------------------------------------------------------------- helpers


def is_tensor(value: object) -> TypeIs[torch.Tensor]:
    """Whether ``value`` is a torch tensor, without importing torch: none exists before torch is imported,
    so numpy-only callers (the onnxruntime serving path) never load it."""
    module = sys.modules.get("torch")
    return module is not None and isinstance(value, module.Tensor)


def _as_float(boxes: Boxes) -> Boxes:
    """``boxes`` with a float dtype and last dimension 4 (no copy when already float)."""
    if is_tensor(boxes):
        import torch

        out = boxes if boxes.is_floating_point() else boxes.to(torch.get_default_dtype())
    else:
        arr = np.asarray(boxes)
        out = arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)
    _check_shape(out)
    return out


def _check_shape(boxes: torch.Tensor | NDArray[Any]) -> None:
    shape = tuple(boxes.shape)
    if len(shape) == 0 or shape[-1] != 4:
        raise InvalidBoxError(f"boxes must have shape (..., 4), got {shape}", reason="wrong shape")


def _stack(like: Boxes, cols: tuple[Any, Any, Any, Any]) -> Boxes:
    """Stack four coordinate columns back into ``(..., 4)``, as ``like``'s type."""
    if is_tensor(like):
        import torch

        return torch.stack(cols, dim=-1)
    return np.stack(cols, axis=-1)


def _image_size(image_size: tuple[int, int] | tuple[float, float]) -> tuple[float, float]:
    """``(width, height)`` as floats; a clear ValueError unless both are positive and finite."""
    try:
        width, height = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height), got {image_size!r}") from None
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"image_size (width, height) must be positive and finite, got {image_size!r}")
    return width, height


def _check_format(fmt: str, name: str) -> None:
    if fmt not in BOX_FORMATS:
        raise ValueError(f"unknown box format {name}={fmt!r}; expected one of {BOX_FORMATS}")


# --------------------------------------------------------------------------- conversions


def coco_to_xyxy(boxes: Boxes) -> Boxes:
    """COCO ``[x, y, w, h]`` -> Pascal VOC ``[x1, y1, x2, y2]``."""
    b = _as_float(boxes)
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(b, (x, y, x + w, y + h))


def xyxy_to_coco(boxes: Boxes) -> Boxes:
    """Pascal VOC ``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]``."""
    b = _as_float(boxes)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(b, (x1, y1, x2 - x1, y2 - y1))


def xyxy_to_yolo(boxes: Boxes, image_size: tuple[int, int]) -> Boxes:
    """Pascal VOC ``[x1, y1, x2, y2]`` pixels -> YOLO ``[xc, yc, w, h]`` normalised by ``(width, height)``."""
    width, height = _image_size(image_size)
    b = _as_float(boxes)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(
        b, ((x1 + x2) / (2 * width), (y1 + y2) / (2 * height), (x2 - x1) / width, (y2 - y1) / height)
    )


def yolo_to_xyxy(boxes: Boxes, image_size: tuple[int, int]) -> Boxes:
    """YOLO ``[xc, yc, w, h]`` normalised -> Pascal VOC ``[x1, y1, x2, y2]`` pixels of ``(width, height)``."""
    width, height = _image_size(image_size)
    b = _as_float(boxes)
    xc, yc, half_w, half_h = (
        b[..., 0] * width,
        b[..., 1] * height,
        b[..., 2] * (width / 2),
        b[..., 3] * (height / 2),
    )
    return _stack(b, (xc - half_w, yc - half_h, xc + half_w, yc + half_h))


def convert(
    boxes: Boxes,
    src: BoxFormat,
    dst: BoxFormat,
    image_size: tuple[int, int] | None = None,
    *,
    validate_input: bool = False,
) -> Boxes:
    """Convert ``boxes`` from format ``src`` to ``dst`` (always a new array / tensor).

    ``image_size=(width, height)`` is required when either format is ``"yolo"``. With
    ``validate_input=True`` the input is first checked with :func:`validate` (``src``, ``image_size``).
    """
    _check_format(src, "src")
    _check_format(dst, "dst")
    if "yolo" in (src, dst):
        _require_size(image_size, src, dst)
    if validate_input:
        validate(boxes, src, image_size)
    b = _as_float(boxes)
    if src == dst:
        return b.clone() if is_tensor(b) else b.copy()
    if src == "coco":
        xyxy = coco_to_xyxy(b)
    elif src == "yolo":
        xyxy = yolo_to_xyxy(b, _require_size(image_size, src, dst))
    else:
        xyxy = b
    if dst == "coco":
        return xyxy_to_coco(xyxy)
    if dst == "yolo":
        return xyxy_to_yolo(xyxy, _require_size(image_size, src, dst))
    return xyxy


def _require_size(image_size: tuple[int, int] | None, src: str, dst: str) -> tuple[int, int]:
    if image_size is None:
        raise ValueError(f"image_size=(width, height) is required to convert boxes from {src!r} to {dst!r}")
    return image_size


# --------------------------------------------------------------------------- validation


def _format_box(row: NDArray[np.floating[Any]]) -> str:
    return "[" + ", ".join(np.format_float_positional(v, trim="0") for v in row) + "]"


def _extents(b: NDArray[np.float64], fmt: str) -> tuple[NDArray[np.float64], ...]:
    """Left, top, right, bottom, width and height of ``(N, 4)`` boxes, in the format's own units."""
    if fmt == "pascal_voc":
        left, top, right, bottom = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
        return left, top, right, bottom, right - left, bottom - top
    if fmt == "coco":
        left, top, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
        return left, top, left + w, top + h, w, h
    xc, yc, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2, w, h


def validate(
    boxes: torch.Tensor | NDArray[Any],
    fmt: BoxFormat,
    image_size: tuple[int, int] | None = None,
    *,
    tolerance: float = 1e-6,
) -> None:
    """Raise :class:`InvalidBoxError` unless every box in ``boxes`` (shape ``(..., 4)``) is valid.

    A valid box is finite, has width > 0 and height > 0 (zero-size boxes are invalid), and lies
    inside the image: within ``(width, height)`` pixels when ``image_size`` is given for
    ``"coco"`` / ``"pascal_voc"``, and always within 0..1 for ``"yolo"``. ``tolerance`` (in the
    format's own units) forgives float round-off at the image border. The error names the first
    offending box by index and values, e.g. ``box 3 [10.0, 5.0, -2.0, 4.0] (coco): width is negative``.
    """
    _check_format(fmt, "fmt")
    if is_tensor(boxes):
        import torch

        detached = boxes.detach().cpu()
        arr = (detached if detached.dtype in (torch.float32, torch.float64) else detached.double()).numpy()
    else:
        arr = np.asarray(boxes)
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
    _check_shape(arr)
    size = _image_size(image_size) if image_size is not None else None
    flat = arr.reshape(-1, 4)
    if flat.shape[0] == 0:
        return
    b = flat.astype(np.float64)

    with np.errstate(invalid="ignore", over="ignore"):
        left, top, right, bottom, w, h = _extents(b, fmt)

    bounds: tuple[float, float] | None = (1.0, 1.0) if fmt == "yolo" else size
    unit = "" if fmt == "yolo" else " px"
    finite = np.asarray(np.isfinite(b).all(axis=1))
    checks: list[tuple[NDArray[np.bool_], str]] = [
        (~finite, "coordinates are not finite (NaN or inf)"),
        (w < 0, "width is negative"),
        (w == 0, "width is zero"),
        (h < 0, "height is negative"),
        (h == 0, "height is zero"),
    ]
    if bounds is not None:
        bw, bh = bounds
        checks += [
            (left < -tolerance, "outside the image: left edge < 0"),
            (top < -tolerance, "outside the image: top edge < 0"),
            (right > bw + tolerance, f"outside the image: right edge > image width {bw:g}{unit}"),
            (bottom > bh + tolerance, f"outside the image: bottom edge > image height {bh:g}{unit}"),
        ]
    failed = np.stack([mask for mask, _ in checks])
    bad = failed.any(axis=0)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    reason = checks[int(np.argmax(failed[:, first]))][1]
    index: int | tuple[int, ...] = (
        first if arr.ndim <= 2 else tuple(int(i) for i in np.unravel_index(first, arr.shape[:-1]))
    )
    n_bad = int(bad.sum())
    more = f" ({n_bad - 1} more invalid box{'es' if n_bad > 2 else ''})" if n_bad > 1 else ""
    message = f"box {index} {_format_box(flat[first])} ({fmt}): {reason}{more}"
    raise InvalidBoxError(message, index=index, box=[float(v) for v in flat[first]], reason=reason)


# --------------------------------------------------------------------------- geometry


def box_iou(a: Boxes, b: Boxes) -> Boxes:
    """Pairwise IoU ``(N, M)`` of Pascal VOC boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)``.

    Torch inputs use :func:`torchvision.ops.box_iou`; numpy inputs an equivalent vectorised
    version. A pair whose union is zero (two zero-area boxes) gives NaN, as in torchvision.
    """
    if is_tensor(a) != is_tensor(b):
        raise TypeError("box_iou: a and b must both be numpy arrays or both torch tensors")
    a_f, b_f = _as_float(a), _as_float(b)
    if a_f.ndim != 2 or b_f.ndim != 2:
        raise InvalidBoxError(
            f"box_iou needs (N, 4) and (M, 4) boxes, got {tuple(a_f.shape)} and {tuple(b_f.shape)}",
            reason="wrong shape",
        )
    if is_tensor(a_f):
        import torchvision

        return torchvision.ops.box_iou(a_f, b_f)
    area_a = (a_f[:, 2] - a_f[:, 0]) * (a_f[:, 3] - a_f[:, 1])
    area_b = (b_f[:, 2] - b_f[:, 0]) * (b_f[:, 3] - b_f[:, 1])
    top_left = np.maximum(a_f[:, None, :2], b_f[None, :, :2])
    bottom_right = np.minimum(a_f[:, None, 2:], b_f[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def inside_share(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
    """``(N, M)``: the share of each Pascal VOC box of ``a`` ``(N, 4)`` that lies inside each box of ``b``
    ``(M, 4)`` (numpy, in the boxes' dtype; a zero-area box of ``a`` gives 0)."""
    a, b = np.asarray(a), np.asarray(b)
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.maximum(bottom_right - top_left, 0)
    share: NDArray[Any] = overlap[..., 0] * overlap[..., 1] / np.maximum(area[:, None], area.dtype.type(1e-9))
    return share


def clip_xyxy(boxes: Boxes, image_size: tuple[int, int]) -> Boxes:
    """Clip Pascal VOC boxes to the image ``(width, height)`` (x to 0..width, y to 0..height).

    Boxes wholly outside the image collapse to zero width or height (see :func:`validate`).
    """
    width, height = _image_size(image_size)
    b = _as_float(boxes)
    if is_tensor(b):
        import torch

        upper = torch.tensor([width, height, width, height], dtype=b.dtype, device=b.device)
        return torch.clamp(b, min=torch.zeros_like(upper), max=upper)
    upper_np = np.array([width, height, width, height], dtype=b.dtype)
    return np.clip(b, 0, upper_np)


def scale_xyxy(boxes: Boxes, factor: float) -> Boxes:
    """Pascal VOC boxes scaled by ``factor`` about their centres (1.2: a fifth wider and taller)."""
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor}")
    b = _as_float(boxes)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    cx, cy, half_w, half_h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2 * factor, (y2 - y1) / 2 * factor
    return _stack(b, (cx - half_w, cy - half_h, cx + half_w, cy + half_h))


def shift_xyxy(boxes: Boxes, dx: float, dy: float) -> Boxes:
    """Pascal VOC boxes moved by ``dx`` and ``dy`` times their longer side (0.1, 0: a tenth of it right)."""
    b = _as_float(boxes)
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    width, height = x2 - x1, y2 - y1
    side = width.maximum(height) if is_tensor(width) else np.maximum(width, height)
    return _stack(b, (x1 + dx * side, y1 + dy * side, x2 + dx * side, y2 + dy * side))

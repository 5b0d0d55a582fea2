"""Which torch device the model runs on: the one asked for once it has held a tensor here, else the fastest
one there is (cuda, mps, cpu); a device that cannot be used is one sentence (:class:`DeviceError`). And
which precision the torch networks run in there (:func:`resolve_precision`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a device is resolved: the onnx backend serves without torch
    import torch


def default_device() -> torch.device:
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_INSTEAD = "use cpu, or no device to pick cuda, mps or cpu by what is there"


class DeviceError(ValueError):
    """A torch device that does not exist or is not usable on this machine; the message is one sentence."""


def _first_sentence(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.split(". ")[0].rstrip(".")[:200]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to run on: ``device`` once it has held a tensor here, else :func:`default_device`.

    ``DeviceError`` when it is no torch device (``"tpu"``), holds no data (``"meta"``) or is not available
    on this machine (``"cuda"`` without an NVIDIA driver, ``"cuda:3"`` with one GPU, ``"mps"`` off a Mac).
    """
    import torch

    if device is None or device == "":
        return default_device()
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(
            f"{str(device)!r} is not a torch device: use cpu, cuda, cuda:N or mps, or none to pick one"
        ) from None
    if target.type == "meta":
        raise DeviceError("the meta device holds no data and cannot run the model: use cpu, cuda or mps")
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"CUDA is not available on this machine (no NVIDIA GPU or driver): {_INSTEAD}")
    if target.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"MPS is not available on this machine (it needs an Apple-silicon Mac): {_INSTEAD}")
    try:
        torch.zeros(1, device=target).cpu()
    except Exception as error:  # RuntimeError (no driver, bad ordinal), AssertionError (torch without CUDA)
        raise DeviceError(
            f"device {str(device)!r} is not available on this machine ({_first_sentence(error)}): {_INSTEAD}"
        ) from None
    return target


PRECISION_ENV = "DIGIT_DETECTOR_PRECISION"  # the precision used when none is given (see resolve_precision)
PRECISIONS = ("auto", "float32", "bfloat16")


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether the networks run faster in bfloat16 than in float32 on ``device``: a CPU with AMX tiles
    (Intel Xeon from Sapphire Rapids on), where oneDNN runs bfloat16 convolutions on them. On such a CPU
    the PyTorch pipeline read the number canvas in 8.2 ms instead of 12.9 (with the namer alone in
    bfloat16, 11.4); a CPU without AMX runs bfloat16 slower than float32 (docs/experiments.md, package
    4.32.0)."""
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, hence looked up
    return device.type == "cpu" and amx is not None and bool(amx())


def resolve_precision(precision: str | None, device: torch.device) -> torch.dtype:
    """The dtype the torch networks (the detector and the namer's classifier) run in: ``precision``
    ("float32", "bfloat16", or "auto": bfloat16 where :func:`bfloat16_is_fast`, else float32),
    ``$DIGIT_DETECTOR_PRECISION`` when it is None, else "auto". The crops, the decoding and everything
    after the networks stay float32. ``ValueError`` for another name."""
    import torch

    chosen = (os.environ.get(PRECISION_ENV, "") if precision is None else precision).strip().lower()
    chosen = chosen or "auto"
    if chosen not in PRECISIONS:
        source = f"${PRECISION_ENV}" if precision is None else "precision"
        raise ValueError(f"{source} must be one of {', '.join(PRECISIONS)}, got {chosen!r}")
    if chosen == "auto":
        chosen = "bfloat16" if bfloat16_is_fast(device) else "float32"
    return torch.bfloat16 if chosen == "bfloat16" else torch.float32

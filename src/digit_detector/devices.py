"""Which torch device the model runs on: the one asked for once it has held a tensor here, else the fastest
one there is (cuda, mps, cpu); a device that cannot be used is one sentence (:class:`DeviceError`)."""

from __future__ import annotations

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

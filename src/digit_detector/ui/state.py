"""State shared by the app's pages: the detector, loaded once per (weights, backend) and process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from digit_detector.detector import Detector, default_backend, torch_installed
from digit_detector.weights import WeightsError, default_weights_path

# One intra-op thread per inference. Measured on 2 busy cores: 2 threads took 200-600 ms per drawing inside
# the Streamlit server (the threads wait on each other whenever one is descheduled), 1 thread 20-40 ms; and
# concurrent sessions each run in their own script thread anyway.
INFERENCE_THREADS = 1
# session_state key of the Draw page's latest drawing (RGBA array), offered by "Improve the model"
DRAWING_KEY = "last_drawing"
CANVAS_WARMUP = 64  # side of the blank image run once after loading, so the first drawing is not slow
# Backend choices as the app names them -> Detector.from_weights(backend=...).
BACKENDS: dict[str, str] = {"torch": "torch", "onnxruntime": "onnx"}


def backend_choices() -> list[str]:
    """The backends the app offers, as it names them: all of them, or onnxruntime alone where torch is not
    installed (a deployment from requirements-onnx.txt)."""
    return [name for name, backend in BACKENDS.items() if backend != "torch" or torch_installed()]


def backend_label(backend: str) -> str:
    """The app's name of ``backend`` ("onnx" -> "onnxruntime")."""
    return next(name for name, value in BACKENDS.items() if value == backend)


def weights_path() -> str:
    """The weights the app runs: ``$DIGIT_DETECTOR_WEIGHTS``, else ``weights/yolov3-tiny.safetensors``."""
    return str(default_weights_path())


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def load_detector(weights: str, backend: str = "torch") -> Detector:
    """The library's detector for ``weights`` run by ``backend`` ("torch" or "onnx"), shared by all sessions.

    Raises WeightsError (missing or unusable weights) or ImportError (exporting a missing ``.onnx`` needs
    the ``onnx`` package, which the app's requirements leave out); failures are not cached.
    """
    if backend not in BACKENDS.values():
        raise ValueError(f"backend must be one of {sorted(BACKENDS.values())}, got {backend!r}")
    if backend == "torch":  # the onnx backend never imports torch
        import torch

        torch.set_num_threads(INFERENCE_THREADS)
    detector = Detector.from_weights(weights, backend=backend)
    detector(np.full((CANVAS_WARMUP, CANVAS_WARMUP, 3), 255, dtype=np.uint8))  # first call: allocations
    return detector


def try_load_detector(weights: str, backend: str | None = None) -> tuple[Detector | None, str | None]:
    """``(detector, None)``, or ``(None, why)`` with one sentence for the user when it cannot be loaded;
    ``backend`` defaults to ``$DIGIT_DETECTOR_BACKEND``, else torch where it is installed, else onnx
    (:func:`~digit_detector.detector.default_backend`)."""
    backend = default_backend() if backend is None else backend
    try:
        return load_detector(weights, backend), None
    except WeightsError as error:
        return None, str(error)
    except ImportError as error:
        if backend == "torch":  # an onnxruntime-only install (requirements-onnx.txt)
            return None, (
                f"The {backend} backend needs PyTorch, which is not installed here ({error.name or error}): "
                "run the onnx backend (`DIGIT_DETECTOR_BACKEND=onnx`) or install requirements.txt."
            )
        # onnx export on a deployment without the dev requirements
        onnx_file = Path(weights).with_suffix(".onnx").name
        return None, (
            f"The {backend} backend needs {onnx_file} beside the weights ({error.name or error} is not "
            "installed to export it): run `python -m digit_detector export --format onnx` and ship the file."
        )

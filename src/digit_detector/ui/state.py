"""State shared by the app's pages: the detector, loaded once per (weights, backend) and process, and the
inference gate that bounds how many drawings it works on at once (:class:`InferenceGate`)."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st

from digit_detector.detector import BACKEND_ENV, Detector, torch_installed
from digit_detector.detector import default_backend as library_default_backend
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

# The inference gate (see InferenceGate), set per process from the environment.
INFERENCE_SLOTS_ENV = "DIGIT_DETECTOR_INFERENCE_SLOTS"
QUEUE_WAIT_ENV = "DIGIT_DETECTOR_QUEUE_WAIT_S"
QUEUE_MAX_ENV = "DIGIT_DETECTOR_QUEUE_MAX"
DEFAULT_INFERENCE_SLOTS = 1  # drawings worked on at once: one process' Python runs on one core anyway
DEFAULT_QUEUE_WAIT_S = 0.5  # then "busy": the notice reaches the page well within a second of the stroke
DEFAULT_QUEUE_MAX = 16  # drawings waiting for a slot; more are told "busy" at once


class ServerBusy(RuntimeError):
    """No inference slot came free within the gate's wait (or too many drawings already wait for one)."""


class InferenceGate:
    """At most ``slots`` drawings are detected and drawn at once in this process; the others wait for a
    slot in arrival order, at most ``wait_s`` seconds each and at most ``max_waiting`` of them, else
    :class:`ServerBusy`. Concurrent strokes then take turns on the cores instead of all slowing down
    together, a full server answers "busy" within a bounded time, and the memory that waiting drawings
    hold stays bounded."""

    def __init__(self, slots: int, wait_s: float, max_waiting: int) -> None:
        if slots < 1 or wait_s < 0 or max_waiting < 0:
            raise ValueError(
                f"need slots >= 1, wait_s >= 0, max_waiting >= 0; got {slots}, {wait_s}, {max_waiting}"
            )
        self.slots, self.wait_s, self.max_waiting = slots, wait_s, max_waiting
        self._free = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self.waiting = 0
        self.turned_away = 0  # ServerBusy raised so far

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the ``with`` block; raises ServerBusy when none comes free in time."""
        if not self._free.acquire(blocking=False):
            with self._lock:
                if self.waiting >= self.max_waiting:
                    self.turned_away += 1
                    raise ServerBusy(f"{self.waiting} drawings already wait for the model")
                self.waiting += 1
            try:
                acquired = self._free.acquire(timeout=self.wait_s)
            finally:
                with self._lock:
                    self.waiting -= 1
            if not acquired:
                with self._lock:
                    self.turned_away += 1
                raise ServerBusy(f"no inference slot came free in {self.wait_s:g} s")
        try:
            yield
        finally:
            self._free.release()


def _env_number(name: str, default: float, cast: type[int] | type[float]) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return cast(value)
    except ValueError:
        raise ValueError(f"${name} must be a number, got {value!r}") from None


@st.cache_resource
def inference_gate() -> InferenceGate:
    """The process's gate, shared by all sessions: ``$DIGIT_DETECTOR_INFERENCE_SLOTS`` (default 1),
    ``$DIGIT_DETECTOR_QUEUE_WAIT_S`` (0.5) and ``$DIGIT_DETECTOR_QUEUE_MAX`` (16)."""
    return InferenceGate(
        int(_env_number(INFERENCE_SLOTS_ENV, DEFAULT_INFERENCE_SLOTS, int)),
        float(_env_number(QUEUE_WAIT_ENV, DEFAULT_QUEUE_WAIT_S, float)),
        int(_env_number(QUEUE_MAX_ENV, DEFAULT_QUEUE_MAX, int)),
    )


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def default_backend(weights: str | None = None) -> str:
    """The app's backend: ``$DIGIT_DETECTOR_BACKEND`` when set; else onnx where onnxruntime is installed and
    the ``.onnx`` export lies beside ``weights`` (as it does for the shipped weights), since it measured
    cheaper per stroke under load (about half the server CPU of torch, a quarter of its memory:
    scripts/load_test.py); else the library's default (torch where it is installed, else onnx)."""
    if os.environ.get(BACKEND_ENV, "").strip():
        return library_default_backend()
    onnx_file = Path(weights if weights is not None else weights_path()).with_suffix(".onnx")
    if onnxruntime_installed() and onnx_file.is_file():
        return "onnx"
    return library_default_backend()


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
    ``backend`` defaults to the app's (:func:`default_backend`)."""
    backend = default_backend(weights) if backend is None else backend
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

"""Where the shipped weights and the Hydra configs are, found through the package rather than a source tree.

The repository keeps them at its root (``weights/`` and ``configs/``, where people and the Hugging Face
Space look for them). A built wheel carries them as package data under ``digit_detector/_bundled/``
(``setup.py`` copies the run-time weights files and the configs there), found with ``importlib.resources``.
A source checkout, or an editable install of one, has no ``_bundled`` folder: there they are read from the
checkout's root, recognised by its ``pyproject.toml`` or ``app.py`` (the Space's entry point) beside
``src/digit_detector``.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

PACKAGE = "digit_detector"
BUNDLED = "_bundled"
DEFAULT_WEIGHTS_NAME = "yolov3-tiny.safetensors"  # the shipped detector, in the shipped weights folder
WEIGHTS_ENV = "DIGIT_DETECTOR_WEIGHTS"  # names the weights used when none are given


def _package_dir() -> Path | None:
    """The installed package's folder, or None when it is not a plain folder (e.g. imported from a zip)."""
    root = resources.files(PACKAGE)
    return root if isinstance(root, Path) else None


def source_checkout() -> Path | None:
    """The repository root when the package runs from a source checkout (``<root>/src/digit_detector``)."""
    package = _package_dir()
    if package is None or package.parent.name != "src":
        return None
    root = package.parent.parent
    return root if (root / "pyproject.toml").is_file() or (root / "app.py").is_file() else None


def bundled_dir(name: str) -> Path:
    """The shipped folder ``name`` (``"weights"`` or ``"configs"``): the wheel's package data, else the
    source checkout's root folder. When neither exists, the package-data path (so that errors name it)."""
    package = _package_dir()
    shipped = (package or Path(str(resources.files(PACKAGE)))) / BUNDLED / name
    if shipped.is_dir():
        return shipped
    checkout = source_checkout()
    if checkout is not None and (checkout / name).is_dir():
        return checkout / name
    return shipped


def default_weights_path() -> Path:
    """The weights used when none are named: ``$DIGIT_DETECTOR_WEIGHTS``, else the shipped model.

    Here rather than in :mod:`digit_detector.weights` (which re-exports it): it costs no torch import."""
    return Path(os.environ.get(WEIGHTS_ENV) or bundled_dir("weights") / DEFAULT_WEIGHTS_NAME)


def weights_version(path: Path) -> str | None:
    """The ``version`` recorded in the JSON metadata beside weights ``path`` (``NAME.json``), read without
    loading the weights; None when there is no readable record."""
    try:
        record = json.loads(Path(path).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    version = record.get("version") if isinstance(record, dict) else None
    return str(version) if version is not None else None

"""The package works outside a source checkout: a built wheel carries its weights and configs.

The wheel is built from a copy of the build inputs (so no ``build/`` or ``*.egg-info`` lands in the checkout),
installed with ``pip --target`` into a temporary folder and run from a working directory outside the
checkout, with that folder first on ``PYTHONPATH``: the checkout's ``src`` (on the path through the
editable install) is not what runs. Offline: no build isolation, no index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.bundled import bundled_dir, source_checkout
from digit_detector.models import default_configs_dir
from digit_detector.weights import DEFAULT_WEIGHTS, WEIGHTS_ENV

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "src", "configs", "weights")
SHIPPED = (
    "weights/yolov3-tiny.safetensors",
    "weights/yolov3-tiny.json",
    "weights/yolov3-tiny.onnx",
    "weights/yolov3-tiny.namer.safetensors",
    "weights/yolov3-tiny.namer.json",
    "weights/yolov3-tiny.namer.onnx",
    "weights/style-cvae.safetensors",
    "weights/style-cvae.json",
    "configs/train.yaml",
    "configs/model/yolov3-tiny.yaml",
    "configs/experiment/cpu_tiny.yaml",
)


def test_a_source_checkout_reads_the_root_folders() -> None:
    assert source_checkout() == ROOT
    assert bundled_dir("weights") == ROOT / "weights"
    assert DEFAULT_WEIGHTS.parent == ROOT / "weights"
    assert default_configs_dir() == ROOT / "configs"


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, f"{command}\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, installed into a folder of its own; returns that folder."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), "."]
    run([*pip, *build], source)
    (wheel,) = (tmp / "dist").glob("digit_detector-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    bundled = {name.removeprefix("digit_detector/_bundled/") for name in names if "/_bundled/" in name}
    assert set(SHIPPED) <= bundled, sorted(set(SHIPPED) - bundled)
    assert not any(name.startswith("weights/eval/") for name in bundled)  # the evaluation pictures stay out
    site = tmp / "site"
    run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], tmp)
    return site


def outside_env(site: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != WEIGHTS_ENV}
    env["PYTHONPATH"] = str(site)
    return env


@pytest.mark.integration
def test_the_installed_wheel_finds_its_weights_and_configs(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, digit_detector, digit_detector.weights as w\n"
        "from digit_detector.models import default_configs_dir, load_model_config\n"
        "from digit_detector.training.train import load_config\n"
        "print(json.dumps({'package': digit_detector.__file__, 'weights': str(w.DEFAULT_WEIGHTS),\n"
        "    'configs': str(default_configs_dir()), 'model': load_model_config('yolov3-tiny').name,\n"
        "    'train_model': load_config(['experiment=cpu_tiny']).model.name}))\n"
    )
    found = json.loads(run([sys.executable, "-c", probe], tmp_path, outside_env(installed)))
    for key in ("package", "weights", "configs"):
        assert Path(found[key]).is_relative_to(installed), found
    assert Path(found["weights"]).is_file()
    assert found["model"] == found["train_model"] == "yolov3-tiny"


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_the_installed_wheel_predicts_with_its_default_weights(
    installed: Path, tmp_path: Path, backend: str
) -> None:
    canvas = np.zeros((400, 400, 4), dtype=np.uint8)  # transparent, as the app's canvas
    canvas[100:300, 190:210] = (0, 0, 0, 255)  # one upright stroke: a 1
    Image.fromarray(canvas).save(tmp_path / "one.png")
    command = [sys.executable, "-m", "digit_detector", "predict", "one.png", "--json", "--backend", backend]
    (line,) = run(command, tmp_path, outside_env(installed)).splitlines()
    record = json.loads(line)
    assert record["number"] == "1", record
    assert [d["label"] for d in record["detections"]] == ["1"]

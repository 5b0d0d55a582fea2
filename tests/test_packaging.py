"""The package works outside a source checkout: a built wheel carries its weights and configs.

The wheel is built from a copy of the build inputs (so no ``build/`` or ``*.egg-info`` lands in the checkout),
installed with ``pip --target`` into a temporary folder and run from a working directory outside the
checkout, with that folder first on ``PYTHONPATH``: the checkout's ``src`` (on the path through the
editable install) is not what runs. Offline: no build isolation, no index.

The console script is tested in a virtual environment of its own that installs the wheel the way users do
(``pip install``, which writes ``bin/digit-detector``), offline and without copying torch & co.:
``python -m venv --without-pip`` makes an empty environment; a ``.pth`` file in its site-packages lists the
site-packages of the interpreter running the tests (``.venv``), so the dependencies and pip itself import
from there. A plain path line in a ``.pth`` file is only added to ``sys.path``: the ``.pth`` files inside
that folder (the checkout's editable install among them) are not processed, so ``digit_detector`` is
importable only from the installed wheel. pip (``venv/bin/python -m pip``, pip found through the ``.pth``)
installs into the new environment, its ``sys.prefix``; ``--no-deps --no-index`` keeps it offline and
``--ignore-installed`` keeps it from uninstalling the editable install it sees in ``.venv``.
(``--system-site-packages`` would not do: it adds the base interpreter's site-packages, not ``.venv``'s.)

Pins: ``pyproject.toml`` is the one place they are written; ``requirements.txt`` and
``requirements-dev.txt`` are generated from it by ``scripts/sync_requirements.py``, checked here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

import digit_detector
from digit_detector.bundled import bundled_dir, source_checkout
from digit_detector.cli import main
from digit_detector.models import default_configs_dir
from digit_detector.weights import DEFAULT_WEIGHTS, WEIGHTS_ENV

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "LICENSE",
    "src",
    "configs",
    "weights",
)
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
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


def shipped_weights_version() -> str:
    version = json.loads((ROOT / "weights" / "yolov3-tiny.json").read_text())["version"]
    assert isinstance(version, str)
    return version


def load_sync_requirements() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sync_requirements", ROOT / "scripts" / "sync_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_requirements_files_are_generated_from_pyproject() -> None:
    """requirements*.txt say what pyproject.toml says (fix: ``python scripts/sync_requirements.py``)."""
    sync = load_sync_requirements()
    assert sync.stale(ROOT) == [], "run python scripts/sync_requirements.py"
    texts = sync.render(ROOT / "pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    app = [line for line in texts["requirements.txt"].splitlines() if line and not line.startswith("#")]
    assert app == [*project["dependencies"], *project["optional-dependencies"]["app"]]
    dev = [line for line in texts["requirements-dev.txt"].splitlines() if line and not line.startswith("#")]
    extras = project["optional-dependencies"]
    assert dev == ["-r requirements.txt", *extras["train"], *extras["dev"][1:]]
    assert extras["dev"][0] == "digit-detector[app,train]"  # `pip install -e ".[dev]"` gets everything


def test_the_inference_dependencies_are_the_package_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {requirement.split("=")[0].split(">")[0].split("<")[0] for requirement in project["dependencies"]}
    assert {"torch", "torchvision", "numpy", "safetensors", "onnxruntime", "opencv-python-headless"} <= names
    assert not names & {"streamlit", "lightning", "hydra-core", "pytest"}  # those are extras
    assert {"app", "train", "dev"} <= set(project["optional-dependencies"])
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2026 the digit-detector authors" in licence


def test_version_prints_the_package_and_the_default_weights_versions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    expected = f"digit-detector {digit_detector.__version__} (weights {shipped_weights_version()})"
    assert capsys.readouterr().out == expected + "\n"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "mine.safetensors"))
    (tmp_path / "mine.json").write_text(json.dumps({"version": "mine-v1"}))
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"digit-detector {digit_detector.__version__} (weights mine-v1)\n"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "bare.pt"))
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "bare.pt: no version record" in capsys.readouterr().out


def test_version_does_not_import_torch(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom digit_detector.cli import main\ntry:\n    main(['--version'])\n"
        "except SystemExit:\n    pass\nprint('torch' in sys.modules)\n"
    )
    lines = run([sys.executable, "-c", probe], tmp_path).splitlines()
    assert lines[0].startswith(f"digit-detector {digit_detector.__version__} (weights ")
    assert lines[1] == "False"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of this checkout's build inputs, offline."""
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
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), "."]
    run([*PIP, *build], source)
    (wheel,) = (tmp / "dist").glob("digit_detector-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    bundled = {name.removeprefix("digit_detector/_bundled/") for name in names if "/_bundled/" in name}
    assert set(SHIPPED) <= bundled, sorted(set(SHIPPED) - bundled)
    assert not any(name.startswith("weights/eval/") for name in bundled)  # the evaluation pictures stay out
    return wheel


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Path:
    """The wheel installed into a folder of its own (``pip --target``); returns that folder."""
    site = wheel.parent.parent / "site"
    run([*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], wheel.parent)
    return site


BLOCKER = """\
import importlib.abc, os, sys

BLOCKED = set(filter(None, os.environ.get("TEST_BLOCKED_MODULES", "").split(",")))


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed in this test)")
        return None


if BLOCKED:
    sys.meta_path.insert(0, Refuse())
"""


@pytest.fixture(scope="module")
def console_venv(wheel: Path) -> Path:
    """A virtual environment with the wheel ``pip install``-ed, its dependencies (and pip) seen through a
    ``.pth`` file naming this interpreter's site-packages (see the module docstring); returns its folder."""
    venv = wheel.parent.parent / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], wheel.parent)
    python = venv / "bin" / "python"
    purelib = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], venv).strip()
    )
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (purelib / "_test_dependencies.pth").write_text("".join(f"{folder}\n" for folder in ours))
    # $TEST_BLOCKED_MODULES (comma-separated) refuses those imports: an install without torch, for the test
    (purelib / "_test_block.py").write_text(BLOCKER)
    (purelib / "_test_block.pth").write_text("import _test_block\n")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run([*pip, "install", "--no-deps", "--no-index", "--ignore-installed", str(wheel)], wheel.parent)
    return venv


def outside_env(site: Path | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in (WEIGHTS_ENV, "PYTHONPATH")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


@pytest.mark.integration
def test_the_wheel_declares_its_dependencies_and_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
        entry_points = archive.read(metadata.replace("METADATA", "entry_points.txt")).decode()
    assert f"Version: {digit_detector.__version__}" in text
    assert "License-Expression: MIT" in text
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    requires = [
        line.removeprefix("Requires-Dist: ") for line in text.splitlines() if line.startswith("Requires-")
    ]
    assert "torch==2.14.1" in requires and "onnxruntime==1.32.0" in requires
    assert (
        'streamlit==1.67.0; extra == "app"' in requires and 'lightning==2.6.6; extra == "train"' in requires
    )
    assert {f"Provides-Extra: {extra}" for extra in ("app", "train", "dev")} <= set(text.splitlines())
    assert "digit-detector = digit_detector.cli:main" in entry_points


@pytest.mark.integration
def test_the_console_script_of_an_installed_wheel_prints_its_versions(
    console_venv: Path, tmp_path: Path
) -> None:
    where = "import digit_detector; print(digit_detector.__file__)"
    package = Path(
        run([str(console_venv / "bin" / "python"), "-c", where], tmp_path, outside_env(None)).strip()
    )
    assert package.is_relative_to(console_venv), package  # the wheel, not the checkout
    version = run([str(console_venv / "bin" / "digit-detector"), "--version"], tmp_path, outside_env(None))
    assert version == f"digit-detector {digit_detector.__version__} (weights {shipped_weights_version()})\n"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("backend", "blocked"), [("torch", ""), ("onnx", "torch,torchvision,safetensors,lightning,hydra")]
)
def test_the_console_script_of_an_installed_wheel_predicts_and_saves(
    console_venv: Path, tmp_path: Path, backend: str, blocked: str
) -> None:
    """``digit-detector predict --save --save-txt`` from the installed wheel, outside the checkout; with the
    onnx backend also where torch cannot be imported (the onnxruntime-only install)."""
    canvas = np.zeros((400, 400, 4), dtype=np.uint8)
    canvas[100:300, 190:210] = (0, 0, 0, 255)  # one upright stroke: a 1
    Image.fromarray(canvas).save(tmp_path / "one.png")
    command = [str(console_venv / "bin" / "digit-detector"), "predict", "one.png", "--json"]
    command += ["--backend", backend, "--save", "out", "--save-txt"]
    env = outside_env(None) | {"TEST_BLOCKED_MODULES": blocked}
    (line,) = run(command, tmp_path, env).splitlines()
    record = json.loads(line)
    assert record["number"] == "1", record
    assert Image.open(tmp_path / "out" / "one.png").size == (400, 400)
    (label,) = (tmp_path / "out" / "labels" / "one.txt").read_text().splitlines()
    assert label.split()[0] == "1" and len(label.split()) == 6
    if blocked:  # the block is real: torch cannot be imported in that environment
        probe = [str(console_venv / "bin" / "python"), "-c", "import torch"]
        failed = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert failed.returncode != 0 and "not installed in this test" in failed.stderr


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

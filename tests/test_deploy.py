"""Deployment: the Docker Space (Dockerfile, .dockerignore, README front matter), the workflows that test and
deploy it, Streamlit's serving settings, and the onnxruntime-only serving path (requirements-onnx.txt): the
detector and the app run with torch and torchvision unimportable.

The image is built only where a container engine runs (``docker info`` or ``podman info``; a test marked
``slow`` that skips elsewhere); the same install steps are checked in a fresh venv (``slow``, needs PyPI).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.utils import canonicalize_name
from streamlit.testing.v1 import AppTest

from digit_detector.detector import BACKEND_ENV, Detector, default_backend
from digit_detector.onnx_backend import OnnxBackend
from digit_detector.ui import state
from digit_detector.weights import WEIGHTS_ENV
from requirement_files import dependency_closure, requirements

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "requirements.txt"
ONNX_REQUIREMENTS = ROOT / "requirements-onnx.txt"
WORKFLOWS = ROOT / ".github" / "workflows"
PORT = 8501
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


# --------------------------------------------------------------------------- helpers


def modules_not_in(path: Path) -> list[str]:
    """Top-level modules installed here whose distributions an install of ``path`` does not have."""
    allowed = dependency_closure(set(requirements(path))) | {"digit-detector"}
    return sorted(
        module
        for module, distributions in metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in allowed for d in distributions)
    )


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())
    ]


def front_matter() -> dict[str, Any]:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    return dict(yaml.safe_load(text.split("\n---\n", 1)[0][4:]))


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return dict(data)


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Run in a subprocess: every module outside requirements-onnx.txt's install refuses to import, as if it
# were not installed (torch, torchvision, safetensors, the training and test packages).
UNINSTALL = """
import importlib.abc, json, sys

BLOCKED = set(json.loads(sys.argv[1]))


class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Uninstalled())
STARTUP = set(sys.modules)  # e.g. setuptools' _distutils_hack, which a .pth file imports at startup


def loaded():
    return sorted(name for name in set(sys.modules) - STARTUP if name.split(".")[0] in BLOCKED)
"""

DRAWING = """
import numpy as np

image = np.zeros((400, 400, 4), dtype=np.uint8)
image[80:320, 190:202] = (0, 0, 0, 255)  # a 1, drawn with the app's black pen on its transparent canvas
"""

DETECT = """
from digit_detector import Detector
from digit_detector.detector import default_backend

detector = Detector.from_weights()
result = detector(image)
print(json.dumps({
    "default_backend": default_backend(),
    "backend": type(detector.backend).__name__,
    "namer": type(detector.namer).__name__,
    "labels": [d.label for d in result.detections],
    "number": result.number,
    "loaded": loaded(),
}))
"""

# The Draw page's result for the drawing (the app's detector, cached, as the page loads it).
DRAW_PAGE = (
    DRAWING
    + """
from digit_detector.ui import draw_page, state

detector, problem = state.try_load_detector(state.weights_path())
assert problem is None, problem
draw_page.show_result(
    image,
    detector,
    score_threshold=detector.score_threshold,
    iou_threshold=0.45,
    backend_name=state.backend_label(state.default_backend()),
)
"""
)

APP_RUN = f"""
from streamlit.testing.v1 import AppTest

app = AppTest.from_file({APP!r}, default_timeout=120).run()
page = AppTest.from_string({DRAW_PAGE!r}, default_timeout=120).run()
about = AppTest.from_string("from digit_detector.ui import about_page\\nabout_page.render()").run(timeout=120)
import digit_detector.ui.improve_page
print(json.dumps({{
    "errors": [str(e.value) for e in [*app.exception, *page.exception, *about.exception]],
    "backends": [radio.options for radio in app.radio],
    "tables": [m.value for m in page.markdown if "dd-detections" in m.value],
    "captions": [c.value for c in page.caption],
    "style_page": "digit_detector.ui.style_page" in sys.modules,
    "loaded": loaded(),
}}))
"""


def run_without(blocked: list[str], script: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``script`` (after UNINSTALL) in a fresh interpreter; its last stdout line, as JSON."""
    completed = subprocess.run(
        [sys.executable, "-c", UNINSTALL + script, json.dumps(blocked)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- onnxruntime without torch


def test_requirements_onnx_is_requirements_txt_without_torch() -> None:
    lean, full = requirements(ONNX_REQUIREMENTS), requirements(REQUIREMENTS)
    assert {"onnxruntime", "numpy", "pillow", "streamlit", "streamlit-drawable-canvas"} <= set(lean)
    assert not {"torch", "torchvision", "safetensors"} & dependency_closure(set(lean))
    for name, requirement in lean.items():  # the same pins as the full install
        assert name in full, name
        assert str(requirement.specifier) == str(full[name].specifier), name
    blocked = modules_not_in(ONNX_REQUIREMENTS)
    assert {"torch", "torchvision", "safetensors", "lightning", "onnx", "pytest"} <= set(blocked)


def test_the_detector_runs_on_onnxruntime_without_torch() -> None:
    """Torch, torchvision and every other package requirements-onnx.txt does not install refuse to import:
    the default backend is then onnx, and the shipped weights' graphs (detector + namer) find a drawn 1."""
    for env in ({}, {BACKEND_ENV: "onnx"}):
        found = run_without(modules_not_in(ONNX_REQUIREMENTS), DRAWING + DETECT, env)
        assert found == {
            "default_backend": "onnx",
            "backend": "OnnxBackend",
            "namer": "OnnxNamer",
            "labels": ["1"],
            "number": "1",
            "loaded": [],
        }


@pytest.mark.integration  # runs the app in a subprocess
def test_the_app_runs_on_onnxruntime_without_torch(tmp_path: Path) -> None:
    """The app's pages with nothing outside requirements-onnx.txt importable: the Draw page offers
    onnxruntime alone and shows the drawn 1; About and Improve load; "Your style" (PyTorch) is left out."""
    shown = run_without(
        modules_not_in(ONNX_REQUIREMENTS), APP_RUN, {"DIGIT_DETECTOR_FEEDBACK_DIR": str(tmp_path)}
    )
    assert shown["errors"] == [] and shown["loaded"] == [] and not shown["style_page"]
    assert shown["backends"] == [["onnxruntime"]]
    assert len(shown["tables"]) == 1 and ">1<" in shown["tables"][0]
    assert any("(onnxruntime)" in caption for caption in shown["captions"])


def test_the_backend_variable_picks_the_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert default_backend() == "torch"  # torch is installed here
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    assert default_backend() == "onnx"
    assert isinstance(Detector.from_weights().backend, OnnxBackend)
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(ValueError, match=BACKEND_ENV):
        Detector.from_weights()
    monkeypatch.setattr(state, "torch_installed", lambda: False)
    assert state.backend_choices() == ["onnxruntime"]


def _draw_page_script() -> None:
    from digit_detector.ui import draw_page

    draw_page.render()


def test_the_draw_page_starts_on_the_backend_the_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    at = AppTest.from_function(_draw_page_script, default_timeout=120).run()
    assert not at.exception
    assert at.radio[0].options == ["torch", "onnxruntime"] and at.radio[0].value == "onnxruntime"
    assert not at.error and not at.warning


def test_a_torch_backend_without_torch_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_torch(*args: Any, **kwargs: Any) -> Any:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    state.load_detector.clear()
    monkeypatch.setattr(state.Detector, "from_weights", no_torch)
    detector, problem = state.try_load_detector(state.weights_path(), "torch")
    assert detector is None and problem is not None
    assert "PyTorch" in problem and "DIGIT_DETECTOR_BACKEND=onnx" in problem
    state.load_detector.clear()


# --------------------------------------------------------------------------- the Docker Space


def test_the_space_is_a_docker_space_on_the_port_the_image_serves() -> None:
    matter = front_matter()
    assert matter["sdk"] == "docker" and matter["app_port"] == PORT
    assert not {"sdk_version", "app_file", "python_version"} & set(matter)  # Streamlit-SDK only
    instructions = dockerfile_instructions()
    assert ("EXPOSE", str(PORT)) in instructions
    (command,) = [json.loads(args) for name, args in instructions if name == "CMD"]
    assert command == [
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(PORT),
        "--server.address",
        "0.0.0.0",
    ]


def test_the_dockerfile_installs_the_app_requirements_with_cpu_torch_as_uid_1000() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    args = dict(
        arg.split("=", 1) for name, arg in instructions if name == "ARG"
    )  # build arguments and their defaults
    assert args == {"REQUIREMENTS": "requirements.txt", "TORCH_INDEX_URL": CPU_INDEX}
    runs = " ".join(arg for name, arg in instructions if name == "RUN")
    assert "requirements-dev" not in runs and "[dev]" not in runs and "[train]" not in runs
    assert '--index-url "$TORCH_INDEX_URL" -r torch.txt' in runs and 'pip install -r "$REQUIREMENTS"' in runs
    # the torch lines the RUN step takes from each requirements file: pinned in the full one, none in the lean
    torch_lines = re.compile(r"^(torch|torchvision)==", re.MULTILINE)
    assert sorted(m.group(1) for m in torch_lines.finditer(REQUIREMENTS.read_text())) == [
        "torch",
        "torchvision",
    ]
    assert not torch_lines.search(ONNX_REQUIREMENTS.read_text())
    assert "useradd --create-home --uid 1000 user" in runs
    user = [arg for name, arg in instructions if name == "USER"]
    assert user == ["user"]
    order = [name for name, _ in instructions]
    assert order.index("USER") < order.index("CMD") and order.index("USER") > order.index("RUN")
    (healthcheck,) = [arg for name, arg in instructions if name == "HEALTHCHECK"]
    assert f"127.0.0.1:{PORT}/_stcore/health" in healthcheck


def test_dockerignore_leaves_out_data_runs_environments_and_tests_but_not_the_app() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip()[:1] not in "#"
    ]
    for left_out in ("data/", "runs/", ".venv", "logs/", "tests/", ".git", ".streamlit/secrets.toml"):
        assert left_out in patterns, left_out
    needed = [
        "app.py",
        "src/digit_detector/detector.py",
        "configs/model/yolov3-tiny.yaml",
        "weights/yolov3-tiny.safetensors",
        "weights/yolov3-tiny.onnx",
        "weights/yolov3-tiny.namer.onnx",
        ".streamlit/config.toml",
        "requirements.txt",
        "requirements-onnx.txt",
    ]
    for path in needed:
        assert (ROOT / path).is_file(), path
        prefixes = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 2)}
        assert not any(pattern.rstrip("/") in prefixes for pattern in patterns), path


def test_streamlit_serves_headless_without_a_file_watcher() -> None:
    import tomllib

    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["fileWatcherType"] == "none" and server["headless"] is True
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text().splitlines()


def test_workflows_read_only_pinned_and_deploy_only_after_ci_passes() -> None:
    ci, deploy = workflow("ci.yml"), workflow("deploy-space.yml")
    for data in (ci, deploy):
        assert data["permissions"] == {"contents": "read"}
        for job in data["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert SHA_PIN.match(step["uses"]), step["uses"]
    assert "push" not in deploy["on"]
    assert deploy["on"]["workflow_run"] == {
        "workflows": [ci["name"]],
        "types": ["completed"],
        "branches": ["main"],
    }
    assert deploy["concurrency"]["cancel-in-progress"] is False and deploy["concurrency"]["group"]
    gate = deploy["jobs"]["current"]["if"]
    assert "github.event.workflow_run.conclusion == 'success'" in gate
    assert "github.event.workflow_run.event == 'push'" in gate
    assert deploy["jobs"]["deploy"]["needs"] == "current"
    (checkout,) = [
        s for s in deploy["jobs"]["deploy"]["steps"] if s.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkout["with"]["ref"] == "${{ needs.current.outputs.sha }}"  # the commit CI passed on


# --------------------------------------------------------------------------- the same install, for real


def index_reachable(package: str, index: str | None = None) -> bool:
    """Whether pip finds versions of ``package`` on ``index`` alone (pip's configuration ignored, as
    install_size.fresh_venv installs torch), or with pip's own settings when no index is given."""
    pip = [sys.executable, "-m", "pip", "index", "versions", package]
    env = None
    if index is not None:
        pip += ["--index-url", index]
        env = load_script("install_size").only_index_env()
    completed = subprocess.run(pip, capture_output=True, text=True, timeout=120, env=env)
    return completed.returncode == 0


@pytest.mark.slow
@pytest.mark.integration  # package registries
@pytest.mark.parametrize("requirements_file", ["requirements-onnx.txt", "requirements.txt"])
def test_the_image_install_steps_in_a_fresh_venv(requirements_file: str, tmp_path: Path) -> None:
    """The Dockerfile's install (torch from the CPU index first, then the requirements from PyPI) in a new
    venv, then scripts/install_size.py's workloads there: a detection and the app, on the backend the
    install picks (onnx without torch)."""
    torch_index = None
    if requirements_file == "requirements.txt":
        torch_index = CPU_INDEX
        if not index_reachable("torch", CPU_INDEX):
            pytest.skip(f"PyTorch's CPU index ({CPU_INDEX}) is not reachable from here")
    if not index_reachable("onnxruntime"):
        pytest.skip("no package index is reachable from here")
    install_size = load_script("install_size")
    python = install_size.fresh_venv(tmp_path / "venv", ROOT / requirements_file, torch_index)
    measured = install_size.measure(python, ROOT / requirements_file, [], None)
    backend = "OnnxBackend" if torch_index is None else "TorchBackend"
    assert measured["predict"]["number"] == "1" and measured["predict"]["backend"] == backend
    assert measured["app"]["errors"] == [] and measured["app"]["tables"] == 1
    if torch_index is None:
        assert not measured["predict"]["torch_imported"] and not measured["app"]["torch_imported"]
        assert "torch" not in measured["largest_mib"]
    else:  # the CPU wheel: no CUDA libraries
        assert not any(name.startswith("nvidia-") for name in measured["largest_mib"])


def container_engine() -> str | None:
    """A container engine that runs here (``docker info`` / ``podman info`` succeed), or None."""
    for tool in ("docker", "podman"):
        if shutil.which(tool) is None:
            continue
        info = subprocess.run([tool, "info"], capture_output=True, text=True, timeout=60)
        if info.returncode == 0:
            return tool
    return None


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("requirements_file", ["requirements-onnx.txt", "requirements.txt"])
def test_the_image_builds_runs_as_uid_1000_and_reports_healthy(
    requirements_file: str, tmp_path: Path
) -> None:
    engine = container_engine()
    if engine is None:
        pytest.skip("no container engine runs here (docker/podman info fails or neither is installed)")
    tag = f"digit-detector-test:{requirements_file.removesuffix('.txt')}"
    build = subprocess.run(
        [engine, "build", "--build-arg", f"REQUIREMENTS={requirements_file}", "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    detect = DRAWING + textwrap.dedent(
        """
        import json, sys
        from digit_detector import Detector
        result = Detector.from_weights()(image)
        print(json.dumps({"number": result.number, "uid": __import__("os").getuid()}))
        """
    )
    ran = subprocess.run(
        [engine, "run", "--rm", "-e", "PYTHONPATH=src", tag, "python", "-c", detect],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == {"number": "1", "uid": 1000}
    started = subprocess.run(
        [engine, "run", "-d", "--rm", "-p", f"127.0.0.1::{PORT}", tag],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        port = (
            subprocess.run([engine, "port", container, str(PORT)], capture_output=True, text=True, check=True)
            .stdout.split(":")[-1]
            .strip()
        )
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and status != 200:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
                    status = response.status
            except OSError:
                time.sleep(2)
        assert status == 200
    finally:
        subprocess.run([engine, "stop", container], capture_output=True, timeout=120)

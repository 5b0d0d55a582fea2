"""Install size and peak memory of a serving install: requirements.txt (torch) or requirements-onnx.txt.

    # a fresh venv from PyPI (torch from PyTorch's CPU index, as the Dockerfile installs it):
    python scripts/install_size.py --fresh /tmp/venv-onnx --requirements requirements-onnx.txt
    python scripts/install_size.py --fresh /tmp/venv-torch --requirements requirements.txt \\
        --torch-index https://download.pytorch.org/whl/cpu
    # an existing environment: the requirements' dependency closure as installed there, less some packages
    # (e.g. the CUDA libraries a PyPI torch wheel pulls in, which the CPU wheel does not have):
    python scripts/install_size.py --python .venv/bin/python --requirements requirements.txt \\
        --exclude 'nvidia-*' --exclude triton

Size is the bytes of the files each installed distribution records (its ``RECORD``), summed over the
requirements' dependency closure; for a fresh venv also the whole venv on disk (``du``: pip, setuptools and
the interpreter links too). Peak RSS (``ru_maxrss`` of the process, from ``wait4``) is measured for two
workloads run by that interpreter with this checkout's ``src`` on the path:

- ``predict``: ``Detector.from_weights()`` (the shipped weights, the backend the install picks:
  ``$DIGIT_DETECTOR_BACKEND``, else torch where it is installed) and 20 detections of a drawn 400x400 canvas;
- ``app``: the Streamlit app (``app.py``) run once in ``streamlit.testing.v1.AppTest``, then the Draw page's
  ``show_result`` on the drawing: the imports, model loading, inference and rendering a session costs
  (not the tornado server or a browser's websocket).

Each workload's wall time is reported too (``app``: a cold session's first drawing, from a bare interpreter
to the result), and ``health_s``: a cold ``streamlit run app.py`` until ``/_stcore/health`` answers (what a
Space's health check waits for; the model loads with the first session, not before).

Prints one JSON object (``--json``) or a Markdown table. Needs only the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024

# Run by the measured interpreter: the installed size of the requirements' dependency closure.
SIZES = r"""
import fnmatch, json, re, sys
from importlib import metadata

try:
    from packaging.markers import Marker
except ImportError:  # pip vendors it
    from pip._vendor.packaging.markers import Marker

def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()

def names(path):
    found = set()
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found |= names(line[2:].strip())
        elif line:
            found.add(canonical(re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0]))
    return found

requirements, excluded = sys.argv[1], json.loads(sys.argv[2])
sizes, todo, seen = {}, sorted(names(requirements)), set()
while todo:
    name = todo.pop()
    if name in seen:
        continue
    seen.add(name)
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue
    for text in dist.requires or []:
        marker = text.split(";", 1)[1] if ";" in text else ""
        if marker and not Marker(marker).evaluate({"extra": ""}):
            continue  # another platform's, or an extra's requirement
        todo.append(canonical(re.split(r"[\s<>=!~;\[(]", text, maxsplit=1)[0]))
    if any(fnmatch.fnmatch(name, pattern) for pattern in excluded):
        continue
    total = 0
    for file in dist.files or []:
        try:
            total += file.locate().stat().st_size
        except OSError:
            pass
    sizes[name] = total
print(json.dumps(sizes))
"""

DRAWING = """
import numpy as np
image = np.zeros((400, 400, 4), dtype=np.uint8)
image[80:320, 190:202] = (0, 0, 0, 255)  # a 1
"""

PREDICT = (
    "import json, sys\n"
    + DRAWING
    + """
from digit_detector import Detector
detector = Detector.from_weights()
for _ in range(20):
    result = detector(image)
print(json.dumps({"number": result.number, "backend": type(detector.backend).__name__,
                  "torch_imported": "torch" in sys.modules}))
"""
)

# The Draw page's result for the drawing, as a script of its own (AppTest.from_string).
DRAW_PAGE = (
    DRAWING
    + """
from digit_detector.ui import draw_page, state
detector, problem = state.try_load_detector(state.weights_path())
assert problem is None, problem
draw_page.show_result(image, detector, score_threshold=detector.score_threshold, iou_threshold=0.45)
"""
)

APP = f"""
import json, sys
from streamlit.testing.v1 import AppTest

app = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=300).run()
page = AppTest.from_string({DRAW_PAGE!r}, default_timeout=300).run()
errors = [str(e.value) for e in [*app.exception, *page.exception]]
shown = [m.value for m in page.markdown if "dd-detections" in m.value]
print(json.dumps({{"errors": errors, "tables": len(shown), "torch_imported": "torch" in sys.modules}}))
"""


def run_measured(python: Path, code: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``code`` with ``python``: its last stdout line (JSON) plus its peak RSS in MiB."""
    # output to files, not pipes: wait4 (this child's own rusage; ru_maxrss in KiB on Linux) reads nothing
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen([str(python), "-c", code], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{stderr[-3000:]}")
    return {
        **json.loads(stdout.strip().splitlines()[-1]),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "seconds": round(seconds, 2),
    }


def health_seconds(python: Path, env: dict[str, str], timeout: float = 120.0) -> float:
    """Seconds from ``streamlit run app.py`` (a cold process) until ``/_stcore/health`` answers 200."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(python), "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as reply:
                    if reply.status == 200:
                        return round(time.perf_counter() - start, 2)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the app did not answer its health check within {timeout:.0f} s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def only_index_env() -> dict[str, str]:
    """This environment without pip's configuration (config files, extra indexes, find-links): a pip run
    with ``--index-url`` then searches that index alone, as in the image (which has no pip config)."""
    dropped = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")  # PIP_CERT stays
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    return {**env, "PIP_CONFIG_FILE": os.devnull}


def fresh_venv(folder: Path, requirements: Path, torch_index: str | None) -> Path:
    """A new venv in ``folder`` with ``requirements`` installed as the Dockerfile installs them: the pinned
    torch and torchvision from ``torch_index`` alone, then the rest with pip's own settings."""
    if folder.exists():
        shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    pinned = [
        line.strip()
        for line in requirements.read_text().splitlines()
        if re.match(r"(torch|torchvision)==", line)
    ]
    if pinned:
        if torch_index is None:
            raise SystemExit(f"{requirements} pins {pinned}: pass --torch-index (e.g. PyTorch's CPU index)")
        subprocess.run([*pip, "--index-url", torch_index, *pinned], check=True, env=only_index_env())
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    return folder / "bin" / "python"


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def measure(python: Path, requirements: Path, exclude: list[str], backend: str | None) -> dict[str, Any]:
    sizes = json.loads(
        subprocess.run(
            [str(python), "-c", SIZES, str(requirements), json.dumps(exclude)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": "1",
    }
    if backend:
        env["DIGIT_DETECTOR_BACKEND"] = backend
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:8]
    return {
        "python": str(python),
        "requirements": requirements.name,
        "excluded": exclude,
        "installed_mib": round(sum(sizes.values()) / MiB, 1),
        "largest_mib": {name: round(size / MiB, 1) for name, size in largest},
        "predict": run_measured(python, PREDICT, env),
        "app": run_measured(python, APP, env),
        "health_s": health_seconds(python, env),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--fresh", type=Path, metavar="DIR", help="create a venv in DIR (replaced) and measure it"
    )
    where.add_argument("--python", type=Path, help="measure the environment of this interpreter")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements-onnx.txt")
    parser.add_argument(
        "--torch-index", metavar="URL", help="index for the pinned torch/torchvision (--fresh)"
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="distributions not counted (repeatable)",
    )
    parser.add_argument(
        "--backend", choices=("torch", "onnx"), help="$DIGIT_DETECTOR_BACKEND for the workloads"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = parser.parse_args(argv)
    requirements = args.requirements.resolve()
    python = args.python if args.fresh is None else fresh_venv(args.fresh, requirements, args.torch_index)
    result = measure(python, requirements, args.exclude, args.backend)
    if args.fresh is not None:
        result["venv_on_disk_mib"] = round(du(args.fresh) / MiB, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"| {requirements.name} | installed | predict peak RSS | app peak RSS | first drawing | health |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {python} | {result['installed_mib']} MiB | {result['predict']['peak_rss_mib']} MiB "
        f"({result['predict']['backend']}) | {result['app']['peak_rss_mib']} MiB | "
        f"{result['app']['seconds']} s | {result['health_s']} s |"
    )
    print("largest:", ", ".join(f"{name} {size} MiB" for name, size in result["largest_mib"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

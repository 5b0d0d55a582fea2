"""The predict command's JSON contract and error path, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digit_detector", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def image_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    canvas = np.zeros((400, 400, 4), dtype=np.uint8)
    canvas[100:300, 190:210] = (0, 0, 0, 255)
    Image.fromarray(canvas).save(folder / "b_canvas.png")
    Image.new("L", (90, 60), 255).save(folder / "a_gray.jpg")
    (folder / "c_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("not an image, not picked up from a directory")
    return folder


@pytest.mark.integration  # a real subprocess
def test_json_contract_and_error_records(random_tiny_weights: Path, image_dir: Path) -> None:
    completed = run_cli(
        "predict", str(image_dir), "--weights", str(random_tiny_weights), "--score", "0.05", "--json"
    )
    assert completed.returncode == 1, completed.stderr  # one image failed
    records = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [Path(r["image"]).name for r in records] == ["a_gray.jpg", "b_canvas.png", "c_corrupt.png"]
    for record in records[:2]:
        assert set(record) == {"image", "detections", "number", "ms"}
        assert isinstance(record["number"], str) and isinstance(record["ms"], float)
        for detection in record["detections"]:
            assert set(detection) == {"label", "class_id", "score", "box"}
            assert isinstance(detection["class_id"], int) and len(detection["box"]) == 4
    assert set(records[2]) == {"image", "error"} and "cannot read" in records[2]["error"]


@pytest.mark.integration  # a real subprocess
def test_all_good_images_exit_zero_with_a_table(random_tiny_weights: Path, image_dir: Path) -> None:
    completed = run_cli("predict", str(image_dir / "a_gray.jpg"), "--weights", str(random_tiny_weights))
    assert completed.returncode == 0, completed.stderr
    assert "a_gray.jpg" in completed.stdout and "number=" in completed.stdout


def test_missing_file_is_an_error_record(
    random_tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["predict", str(tmp_path / "missing.png"), "--weights", str(random_tiny_weights), "--json"])
    assert code == 1
    record = json.loads(capsys.readouterr().out)
    assert record == {
        "image": str(tmp_path / "missing.png"),
        "error": f"no such file: {tmp_path / 'missing.png'}",
    }


def test_bad_weights_give_one_sentence_and_exit_2(
    tmp_path: Path, image_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pointer = tmp_path / "w.safetensors"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\n")
    assert main(["predict", str(image_dir), "--weights", str(pointer)]) == 2
    assert "git lfs pull" in capsys.readouterr().err


@pytest.mark.integration  # a real subprocess
def test_help_documents_the_contract() -> None:
    completed = run_cli("predict", "--help")
    assert completed.returncode == 0
    for flag in ("--weights", "--arch", "--score", "--iou", "--json", '"number": str'):
        assert flag in completed.stdout


TRAINING_STACK = ("albumentations", "hydra", "lightning", "matplotlib", "omegaconf", "onnx", "torchmetrics")


@pytest.mark.integration  # a real subprocess
def test_predict_needs_only_the_app_requirements(random_tiny_weights: Path, image_dir: Path) -> None:
    """As on Hugging Face Spaces: the training stack cannot be imported, ``predict`` still runs."""
    script = (
        "import importlib.abc, importlib.machinery, json, sys\n"
        f"BLOCKED = {TRAINING_STACK!r}\n"
        "class Refuse(importlib.abc.Loader):\n"
        "    def create_module(self, spec):\n"
        "        raise ImportError(f'{spec.name} is not in requirements.txt', name=spec.name)\n"
        "    def exec_module(self, module):\n"
        "        raise AssertionError('unreachable')\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            return importlib.machinery.ModuleSpec(name, Refuse())\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        "from digit_detector.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in BLOCKED)), file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    image = str(image_dir / "a_gray.jpg")
    completed = subprocess.run(
        [sys.executable, "-c", script, "predict", image, "--weights", str(random_tiny_weights), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["image"] == image
    assert json.loads(completed.stderr.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "command",
    [
        ["predict"],
        ["data"],
        ["data", "synth"],
        ["data", "show"],
        ["data", "import"],
        ["data", "export-coco"],
        ["data", "autolabel"],
        ["data", "anchors"],
        ["eval"],
        ["namer"],
        ["card"],
        ["export"],
        ["audit"],
        ["style"],
        ["style", "train"],
        ["style", "eval"],
    ],
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m digit_detector {' '.join(command)} ")

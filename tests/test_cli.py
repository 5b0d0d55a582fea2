"""The predict command's JSON contract and error path, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digit_detector.boxes import yolo_to_xyxy
from digit_detector.cli import main
from digit_detector.data.coco import split_to_coco
from digit_detector.data.yolo_format import write_sample


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


def test_predict_reads_the_same_in_either_precision_and_refuses_another(
    random_tiny_weights: Path, image_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = {}
    for precision in ("float32", "bfloat16"):
        argv = [str(image_dir / "a_gray.jpg"), "--weights", str(random_tiny_weights), "--json"]
        assert main(["predict", *argv, "--precision", precision]) == 0
        numbers[precision] = json.loads(capsys.readouterr().out)["number"]
    assert numbers["bfloat16"] == numbers["float32"]
    with pytest.raises(SystemExit) as refused:
        main(["predict", str(image_dir), "--precision", "float16"])
    assert refused.value.code == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err


@pytest.mark.integration  # a real subprocess
def test_help_documents_the_contract() -> None:
    completed = run_cli("predict", "--help")
    assert completed.returncode == 0
    for flag in ("--weights", "--arch", "--score", "--iou", "--json", '"number": str', "--save", "--coco"):
        assert flag in completed.stdout


def test_save_writes_pictures_scored_labels_and_coco_results(
    random_tiny_weights: Path, image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    coco = tmp_path / "results" / "coco.json"
    argv = [str(image_dir), "--weights", str(random_tiny_weights), "--score", "0.001", "--json"]
    code = main(["predict", *argv, "--save", str(out), "--save-txt", "--coco", str(coco)])
    captured = capsys.readouterr()
    assert code == 1  # the corrupt image, reported and passed over
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert "cannot read" in records[2]["error"] and Path(records[2]["image"]).name == "c_corrupt.png"
    assert sorted(p.name for p in out.glob("*.png")) == [
        "a_gray.png",
        "b_canvas.png",
    ]  # one per readable input
    with Image.open(out / "b_canvas.png") as picture:
        assert picture.size == (400, 400)
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["a_gray.txt", "b_canvas.txt"]
    results = json.loads(coco.read_text())
    for image_id, (record, size) in enumerate(zip(records[:2], [(90, 60), (400, 400)], strict=True), start=1):
        lines = (out / "labels" / f"{Path(record['image']).stem}.txt").read_text().splitlines()
        assert len(lines) == len(record["detections"])
        for line, detection in zip(lines, record["detections"], strict=True):
            class_id, *yolo, score = line.split()
            assert int(class_id) == detection["class_id"] and float(score) == pytest.approx(
                detection["score"], abs=1e-4
            )
            box = yolo_to_xyxy(np.array([float(v) for v in yolo]), size)
            np.testing.assert_allclose(box, detection["box"], atol=0.06)  # the JSON's boxes: 0.1 px
        mine = [r for r in results if r["image_id"] == image_id]
        assert [r["category_id"] for r in mine] == [d["class_id"] + 1 for d in record["detections"]]
        for result, detection in zip(mine, record["detections"], strict=True):
            x1, y1, x2, y2 = detection["box"]
            assert result["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.11)
    assert {r["image_id"] for r in results} <= {1, 2} and len(results) > 0


def test_coco_results_load_against_the_splits_coco_export(
    random_tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco_api = pytest.importorskip("pycocotools.coco")
    rng = np.random.default_rng(3)
    for index in range(3):
        image = np.full((120 + 40 * index, 200, 3), 255, dtype=np.uint8)
        image[20:80, 30 + 20 * index : 50 + 20 * index] = rng.integers(0, 80, (60, 20, 3), dtype=np.uint8)
        boxes = np.array([[30.0 + 20 * index, 20.0, 50.0 + 20 * index, 80.0]])
        write_sample(tmp_path / "ds", "test", f"s{2 - index}", image, np.array([index]), boxes)
    ground_truth, problems = split_to_coco(tmp_path / "ds", "test")
    assert not problems
    (tmp_path / "gt.json").write_text(json.dumps(ground_truth))
    images = str(tmp_path / "ds" / "images" / "test")
    argv = ["predict", images, "--weights", str(random_tiny_weights), "--score", "0.001", "--json"]
    assert main([*argv, "--coco", str(tmp_path / "results.json")]) == 0
    order = [Path(json.loads(line)["image"]).name for line in capsys.readouterr().out.splitlines()]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results, "random weights score about 0.0015 everywhere"
    gt = coco_api.COCO(str(tmp_path / "gt.json"))
    loaded = gt.loadRes(str(tmp_path / "results.json"))
    assert len(loaded.getAnnIds()) == len(results)
    for result in results:  # the same image ids for the same files
        assert gt.imgs[result["image_id"]]["file_name"] == order[result["image_id"] - 1]
        assert result["category_id"] in gt.cats


def test_save_txt_alone_writes_labels_only_and_needs_a_folder(
    random_tiny_weights: Path, image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = str(image_dir / "a_gray.jpg")
    weights = ["--weights", str(random_tiny_weights)]
    assert main(["predict", image, *weights, f"--save-txt={tmp_path / 'txt'}"]) == 0
    assert [p.relative_to(tmp_path / "txt").as_posix() for p in (tmp_path / "txt").rglob("*")] == [
        "labels",
        "labels/a_gray.txt",
    ]
    capsys.readouterr()
    assert main(["predict", image, *weights, "--save-txt"]) == 2
    assert "--save-txt needs a folder" in capsys.readouterr().err
    assert main(["predict", "--save-txt", image, str(image_dir / "b_canvas.png"), *weights]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_save_never_replaces_an_input_and_warns_when_stems_collide(
    random_tiny_weights: Path, image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = (image_dir / "b_canvas.png").read_bytes()
    weights = ["--weights", str(random_tiny_weights)]
    assert main(["predict", str(image_dir / "b_canvas.png"), *weights, "--save", str(image_dir)]) == 1
    assert "it is the input image" in capsys.readouterr().err
    assert (image_dir / "b_canvas.png").read_bytes() == original
    (tmp_path / "other").mkdir()
    Image.new("L", (50, 50), 255).save(tmp_path / "other" / "a_gray.png")
    inputs = [str(image_dir / "a_gray.jpg"), str(tmp_path / "other" / "a_gray.png")]
    nothing = ["--score", "1", "--coco", str(tmp_path / "coco.json")]  # random weights score ~0.0015
    assert main(["predict", *inputs, *weights, "--save", str(tmp_path / "out"), *nothing]) == 0
    assert "overwrites the output of" in capsys.readouterr().err
    assert json.loads((tmp_path / "coco.json").read_text()) == []
    with Image.open(tmp_path / "out" / "a_gray.png") as picture:
        assert picture.size == (50, 50)  # the later image's


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


def test_namer_train_refuses_weights_it_cannot_start_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "namer.safetensors"
    broken.write_bytes(b"not a safetensors file")
    code = main(
        ["namer", "train", "--mnist-only", "--init", str(broken), "--out", str(tmp_path / "o.safetensors")]
    )
    assert code == 2
    assert "cannot start from" in capsys.readouterr().err
    assert not (tmp_path / "o.safetensors").exists()


def test_namer_train_distils_only_from_a_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.safetensors"
    code = main(["namer", "train", "--mnist-only", "--distill", "1", "--out", str(out)])
    assert code == 2
    assert "--distill W keeps a fine-tune near its start: give --init" in capsys.readouterr().err
    assert not out.exists()
    code = main(["namer", "train", "--mnist-only", "--teacher", str(out), "--out", str(out)])
    assert code == 2
    assert "--teacher is learnt from by distillation: give --distill W > 0" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("action", "needs"),
    [
        ("keep-rule", "--detector FILE --data DIR --val-data DIR --version VERSION"),
        ("lone-digit", "--detector FILE --val-data DIR --version VERSION"),
        ("best-guess", "--detector FILE --min-objectness VALUE --version VERSION"),
        ("lone-looks", "--detector FILE --scales F ... --degrees D ... --version VERSION"),
    ],
)
def test_the_namer_rule_writers_say_what_they_need(
    action: str, needs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["namer", action, "--out", str(tmp_path / "out")]) == 2
    assert f"{action} needs {needs}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

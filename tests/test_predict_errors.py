"""Hostile and broken input to ``predict`` (and the other commands that load weights): one sentence on
stderr, the documented exit code, and a batch that goes on past every bad file.

Exit codes (the README's table): 0 every image read; 1 some inputs failed (missing, corrupt, over the pixel
limit, a folder with no image, an output not written), the others done; 2 nothing done: unusable weights,
device or arguments.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from digit_detector.cli import main
from digit_detector.io import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS
from digit_detector.weights import DEFAULT_WEIGHTS


def run(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``python -m digit_detector ARGV`` in this process: (exit code, stdout, stderr); argparse's own exit
    (code 2 for bad arguments) is returned, not raised."""
    try:
        code = main(list(argv))
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def tiny_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming ``width`` x ``height`` 1-bit gray pixels, with a few bytes of IDAT: what a
    decompression bomb's header looks like (the pixel data is never reached)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def drawing() -> np.ndarray:
    """A 400x400 white canvas with a mid-grey vertical stroke (a '1')."""
    canvas = np.full((400, 400), 255, dtype=np.uint8)
    canvas[100:300, 190:210] = 110
    return canvas


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray(drawing()).save(path)
    return path


@pytest.fixture()
def weights_copy(random_tiny_weights: Path, tmp_path: Path) -> Path:
    """A private copy of the random weights and their record, for a test to break."""
    folder = tmp_path / "weights"
    folder.mkdir()
    path = Path(shutil.copy(random_tiny_weights, folder))
    shutil.copy(random_tiny_weights.with_suffix(".json"), folder)
    return path


def edit_record(weights: Path, **changes: object) -> Path:
    record = json.loads(weights.with_suffix(".json").read_text())
    for key, value in changes.items():
        if key == "model_name":
            record["model"]["name"] = value
        else:
            record[key] = value
    weights.with_suffix(".json").write_text(json.dumps(record))
    return weights


# --- 0: every image read ---------------------------------------------------------------------------


def test_exit_0_when_every_image_is_read(
    random_tiny_weights: Path, good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["predict", str(good), "--weights", str(random_tiny_weights)], capsys)
    assert code == 0 and str(good) in out and err == ""


# --- 1: some inputs failed, the batch went on ----------------------------------------------------------


def test_a_decompression_bomb_is_refused_in_one_sentence_and_the_batch_goes_on(
    random_tiny_weights: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(tiny_png(20_000, 20_000))  # 400 megapixels in 80 bytes: over Pillow's own limit
    under_pillow = tmp_path / "big.png"
    under_pillow.write_bytes(tiny_png(13_300, 13_300))  # 177 megapixels: Pillow would decode it (2.4 GB)
    argv = ["predict", str(bomb), str(under_pillow), str(good), "--weights", str(random_tiny_weights)]
    code, out, err = run(argv, capsys)
    assert code == 1
    assert str(good) in out  # the image after the bombs was still done
    lines = err.splitlines()
    assert lines == [
        f"{bomb}  error: {bomb} has more than the {MAX_IMAGE_PIXELS:,} pixels (40 megapixels) an image may "
        "have: scale it down first",
        f"{under_pillow}  error: {under_pillow} is 13300x13300 pixels, more than the {MAX_IMAGE_PIXELS:,} "
        "pixels (40 megapixels) an image may have: scale it down first",
    ]


def test_a_mixed_batch_reports_each_bad_file_on_its_line_and_exits_1(
    random_tiny_weights: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(tiny_png(9000, 9000))
    deep = tmp_path / "deep.png"
    Image.fromarray(drawing().astype(np.uint16) * 257).save(deep)  # 16-bit: I;16
    missing = tmp_path / "missing.png"
    inputs = [good, corrupt, bomb, deep, missing]
    argv = ["predict", *map(str, inputs), "--weights", str(random_tiny_weights), "--json", "--score", "0"]
    code, out, err = run(argv, capsys)
    assert code == 1 and err == ""
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in inputs]  # one line each, in order
    assert "error" not in records[0] and "error" not in records[3]
    assert records[1]["error"].startswith(f"cannot read {corrupt} as an image (")
    assert records[2]["error"].startswith(f"{bomb} is 9000x9000 pixels, more than")
    assert records[4]["error"] == f"no such file: {missing}"
    assert records[3]["detections"] == records[0]["detections"]  # the 16-bit twin reads as the 8-bit one


def test_a_16_bit_drawing_is_read_as_its_8_bit_twin_by_the_shipped_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mid-grey ink in a 16-bit PNG used to turn white (clipped, not scaled): an empty result, exit 0."""
    import cv2

    assert DEFAULT_WEIGHTS.is_file(), f"the shipped weights {DEFAULT_WEIGHTS} are missing"
    canvas = np.full((400, 400), 255, dtype=np.uint8)
    for stroke in ([(90, 110), (125, 85), (125, 310)], [(200, 100), (330, 100), (240, 310)]):  # 1 and 7
        cv2.polylines(canvas, [np.array(stroke)], False, 100, 12, cv2.LINE_AA)
    Image.fromarray(canvas).save(tmp_path / "eight.png")
    Image.fromarray(canvas.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")  # mode I;16
    Image.fromarray(canvas.astype(np.uint16) * 257).save(tmp_path / "sixteen.tif")
    argv = ["predict", str(tmp_path), "--weights", str(DEFAULT_WEIGHTS), "--device", "cpu", "--json"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    eight, sixteen_png, sixteen_tif = (json.loads(line) for line in out.splitlines())
    assert eight["number"] == "17"
    for sixteen in (sixteen_png, sixteen_tif):
        assert sixteen["number"] == "17" and sixteen["detections"] == eight["detections"]


def test_a_folder_expands_to_every_format_the_reader_reads(
    random_tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    picture = Image.fromarray(drawing())
    picture.save(folder / "a.gif")
    picture.save(folder / "b.TIF")
    picture.save(folder / ".hidden.png")
    (folder / "notes.txt").write_text("not an image")
    code, out, err = run(["predict", str(folder), "--weights", str(random_tiny_weights), "--json"], capsys)
    assert code == 0, err
    assert [Path(json.loads(line)["image"]).name for line in out.splitlines()] == ["a.gif", "b.TIF"]
    assert {".gif", ".tif", ".tiff", ".png", ".jpg", ".webp", ".bmp"} <= set(IMAGE_SUFFIXES)


def test_a_folder_with_no_image_says_so_in_one_line_and_exits_1(
    random_tiny_weights: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no image here")
    code, out, err = run(["predict", str(empty), str(good), "--weights", str(random_tiny_weights)], capsys)
    assert code == 1
    assert str(good) in out  # the image given after it was still done
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {empty}: no image in this folder (looked for .png, .jpg")


# --- 2: unusable configuration, nothing done -----------------------------------------------------------


@pytest.mark.parametrize("option", ["--score", "--iou"])
@pytest.mark.parametrize("value", ["-1", "2", "5", "nan", "inf", "-inf", "half"])
def test_thresholds_outside_0_to_1_are_refused_with_exit_2(
    option: str, value: str, good: Path, random_tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", str(good), "--weights", str(random_tiny_weights), f"{option}={value}"]
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.splitlines()[-1].endswith(
        f"error: argument {option}: must be a number from 0 to 1, got {value!r}"
    )


@pytest.mark.parametrize("value", ["0", "1", "0.35"])
def test_thresholds_from_0_to_1_are_taken(
    value: str, good: Path, random_tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", str(good), "--weights", str(random_tiny_weights), "--score", value, "--iou", value]
    assert run(argv, capsys)[0] == 0


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", "'tpu' is not a torch device: use cpu, cuda, cuda:N or mps, or none to pick one"),
        ("meta", "the meta device holds no data and cannot run the model: use cpu, cuda or mps"),
        pytest.param(
            "cuda",
            "CUDA is not available on this machine (no NVIDIA GPU or driver): use cpu, or no device to "
            "pick cuda, mps or cpu by what is there",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here"),
        ),
        pytest.param(
            "mps",
            "MPS is not available on this machine (it needs an Apple-silicon Mac): use cpu, or no device to "
            "pick cuda, mps or cpu by what is there",
            marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here"),
        ),
    ],
)
def test_a_device_that_is_not_there_is_one_sentence_and_exit_2(
    device: str, message: str, good: Path, random_tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", str(good), "--weights", str(random_tiny_weights), "--device", device]
    assert run(argv, capsys) == (2, "", f"error: {message}\n")


def test_an_unknown_arch_for_a_plain_state_dict_is_exit_2(
    random_tiny_weights: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file

    plain = tmp_path / "plain.pth"
    torch.save(load_file(str(random_tiny_weights)), plain)
    argv = ["predict", str(good), "--weights", str(plain), "--arch", "foo"]
    expected = "error: --arch foo is not an architecture: use one of yolov3, yolov3-tiny.\n"
    assert run(argv, capsys) == (2, "", expected)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model_name": "foo"},
            "names the model 'foo', which this version does not know (it knows yolov3, yolov3-tiny): use "
            "weights made for it.",
        ),
        (
            {"class_names": ["0", "1", "2"]},
            "is not a valid weights metadata record (3 class names for a model of 12 classes: the record "
            "needs one name per class).",
        ),
        (
            {"score_threshold": "NaN"},
            "is not a valid weights metadata record (score_threshold must be a number from 0 to 1, got nan).",
        ),
        (
            {"model": "yolov3-tiny"},
            'is not a valid weights metadata record (not a JSON object with a "model"',
        ),
    ],
    ids=["unknown-model", "too-few-class-names", "nan-threshold", "model-not-an-object"],
)
def test_a_bad_metadata_record_is_one_sentence_and_exit_2(
    changes: dict[str, object],
    message: str,
    weights_copy: Path,
    good: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    edit_record(weights_copy, **changes)
    code, out, err = run(["predict", str(good), "--weights", str(weights_copy)], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {weights_copy.with_suffix('.json')} {message}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("cut", [0, 7, 100, 0.5], ids=["empty", "7-bytes", "100-bytes", "half"])
def test_truncated_safetensors_are_one_sentence_and_exit_2(
    cut: float, weights_copy: Path, good: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = weights_copy.read_bytes()
    weights_copy.write_bytes(data[: int(cut * len(data)) if isinstance(cut, float) else cut])
    code, out, err = run(["predict", str(good), "--weights", str(weights_copy)], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"error: {weights_copy} (") and "is truncated or corrupt" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "--data", "nowhere", "--weights"],
        ["export", "--out", "{tmp}/out.onnx", "--weights"],
        ["card", "--weights"],
        ["style", "{good}", "--out", "{tmp}/row.png", "--detector-weights"],
        ["style", "eval", "--detector-weights"],
    ],
    ids=["eval", "export", "card", "style", "style-eval"],
)
def test_every_command_that_loads_weights_says_why_in_one_sentence_with_exit_2(
    command: list[str], weights_copy: Path, good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_record(weights_copy, model_name="foo")  # an unknown model: refused however the weights are read
    argv = [part.format(tmp=tmp_path, good=good) for part in command]
    code, _, err = run([*argv, str(weights_copy)], capsys)
    assert code == 2, err
    assert err == (
        f"error: {weights_copy.with_suffix('.json')} names the model 'foo', which this version does not "
        "know (it knows yolov3, yolov3-tiny): use weights made for it.\n"
    )


def test_eval_refuses_a_missing_device_and_a_nan_score_with_exit_2(
    random_tiny_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = ["--weights", str(random_tiny_weights)]
    code, _, err = run(["eval", "--data", "nowhere", *weights, "--device", "tpu"], capsys)
    assert code == 2 and err.startswith("error: 'tpu' is not a torch device")
    code, _, err = run(["eval", "--data", "nowhere", *weights, "--score", "nan"], capsys)
    assert code == 2 and "argument --score: must be a number from 0 to 1, got 'nan'" in err

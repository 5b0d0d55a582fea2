"""ONNX export (network + decode) and the onnxruntime backend: same detections as PyTorch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from digit_detector.detector import Detector
from digit_detector.export import METADATA_KEY, export_onnx
from digit_detector.onnx_backend import OnnxBackend, load_onnx_backend
from digit_detector.preprocess import ImageLike
from digit_detector.weights import WeightsError, load_weights, read_metadata, save_weights


@pytest.fixture(scope="module")
def weights(random_tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random tiny weights with batch-norm statistics measured on random images and a neutral
    objectness prior, saved to a private folder (so the .onnx beside them is this module's own). Straight
    from initialisation every score is about 0.0015, and comparing detections would compare near-ties;
    like this, scores spread over about 0..0.3.
    """
    model, metadata = load_weights(random_tiny_weights)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, 192, 192, generator=torch.Generator().manual_seed(0)))
    model.init_head_bias(0.0)  # objectness prior 0.5 instead of the low one for training from scratch
    folder = tmp_path_factory.mktemp("onnx")
    return save_weights(model.eval(), metadata, folder / random_tiny_weights.name)


@pytest.fixture(scope="module")
def exported(weights: Path) -> Path:
    return export_onnx(weights)


def strokes_canvas() -> np.ndarray:
    canvas = np.zeros((400, 400, 4), dtype=np.uint8)
    canvas[80:320, 100:124] = (0, 0, 0, 255)  # a "1"
    canvas[90:110, 220:340] = (0, 0, 0, 255)  # a "7": bar and stem
    canvas[90:320, 320:340] = (0, 0, 0, 255)
    return canvas


SCORE = 0.14  # low: random weights, but enough detections on every image to compare
IMAGES: dict[str, ImageLike] = {
    "canvas": strokes_canvas(),
    "gray_odd": np.tile(np.linspace(0, 255, 457, dtype=np.uint8), (123, 1)),
    "blank": Image.new("RGB", (300, 200), "white"),
}


def test_export_is_a_valid_model_with_embedded_metadata(weights: Path, exported: Path) -> None:
    assert exported == weights.with_suffix(".onnx")
    model = onnx.load(str(exported))
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props[METADATA_KEY]) == read_metadata(weights).to_dict()
    assert OnnxBackend(exported).metadata() == read_metadata(weights)
    (output,) = model.graph.output
    dims = output.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[2].dim_value == 17


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_torch_and_onnx_backends_agree(weights: Path, exported: Path, name: str) -> None:
    torch_detector = Detector.from_weights(weights, device="cpu", precision="float32", score_threshold=SCORE)
    onnx_detector = Detector.from_weights(weights, backend="onnx", score_threshold=SCORE)
    expected, got = torch_detector(IMAGES[name]), onnx_detector(IMAGES[name])
    assert len(expected.detections) > 0
    assert [d.label for d in got.detections] == [d.label for d in expected.detections]
    assert expected.number == got.number
    for a, b in zip(expected.detections, got.detections, strict=True):
        assert abs(a.score - b.score) < 1e-4
        assert np.allclose(a.box, b.box, atol=0.05)


def test_batches_of_any_size(exported: Path) -> None:
    backend = OnnxBackend(exported, threads=1)
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.random((3, 3, 192, 192), dtype=np.float32))
    decoded = backend(batch)
    assert decoded.shape == (3, 2268, 17)
    assert torch.allclose(decoded[1:2], backend(batch[1:2]), atol=1e-4)


def test_onnx_path_alone_uses_the_embedded_metadata(weights: Path, exported: Path, tmp_path: Path) -> None:
    alone = tmp_path / "model.onnx"  # no .json beside it
    shutil.copy(exported, alone)
    detector = Detector.from_weights(alone, backend="onnx")
    assert detector.metadata == read_metadata(weights)
    with pytest.raises(WeightsError, match="not yolov3"):
        load_onnx_backend(alone, arch="yolov3")


def test_missing_or_stale_onnx_is_exported_first(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for source in (weights, weights.with_suffix(".json")):
        shutil.copy(source, tmp_path / source.name)
    copy = tmp_path / weights.name
    Detector.from_weights(copy, backend="onnx")
    assert copy.with_suffix(".onnx").is_file()
    assert "does not exist: exporting it" in capsys.readouterr().err
    Detector.from_weights(copy, backend="onnx")
    assert capsys.readouterr().err == ""  # up to date: used as it is
    record = json.loads(copy.with_suffix(".json").read_text())
    copy.with_suffix(".json").write_text(json.dumps({**record, "version": "retrained"}))
    detector = Detector.from_weights(copy, backend="onnx")
    assert "out of date" in capsys.readouterr().err
    assert OnnxBackend(copy.with_suffix(".onnx")).metadata() == detector.metadata


def test_an_export_whose_record_this_package_cannot_read_is_exported_again(
    weights: Path, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older package's export can embed a record this one refuses (a field's values since checked more
    strictly); beside its weights it is exported again instead of failing."""
    for source in (weights, weights.with_suffix(".json")):
        shutil.copy(source, tmp_path / source.name)
    copy = tmp_path / weights.name
    model = onnx.load(str(exported))
    (entry,) = [prop for prop in model.metadata_props if prop.key == METADATA_KEY]
    entry.value = json.dumps({**json.loads(entry.value), "score_threshold": 7})
    onnx.save(model, str(copy.with_suffix(".onnx")))
    with pytest.raises(WeightsError, match="invalid weights metadata record"):
        OnnxBackend(copy.with_suffix(".onnx")).metadata()
    detector = Detector.from_weights(copy, backend="onnx")
    assert "out of date" in capsys.readouterr().err
    assert detector.metadata == read_metadata(copy)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a protobuf at all" * 10, "not a usable ONNX model"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n", "git lfs pull"),
    ],
)
def test_unusable_onnx_files_give_one_clear_error(
    exported: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        Detector.from_weights(path, backend="onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    with pytest.raises(WeightsError, match="not a usable ONNX model"):
        OnnxBackend(truncated)
    with pytest.raises(WeightsError, match="No weights file"):
        Detector.from_weights(tmp_path / "missing.safetensors", backend="onnx")


@pytest.mark.integration  # a real subprocess
def test_cli_predict_with_the_onnx_backend(weights: Path, exported: Path, tmp_path: Path) -> None:
    image = tmp_path / "canvas.png"
    Image.fromarray(strokes_canvas()).save(image)
    args = [
        "predict",
        str(image),
        "--weights",
        str(weights),
        "--backend",
        "onnx",
        "--score",
        str(SCORE),
        "--json",
    ]
    completed = subprocess.run(
        [sys.executable, "-m", "digit_detector", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    (record,) = [json.loads(line) for line in completed.stdout.splitlines()]
    assert set(record) == {"image", "detections", "number", "ms"} and record["detections"]


def test_cli_export(weights: Path, tmp_path: Path) -> None:
    from digit_detector.cli import main

    out = tmp_path / "exported.onnx"
    assert main(["export", "--format", "onnx", "--weights", str(weights), "--out", str(out)]) == 0
    assert out.is_file() and not list(tmp_path.glob("*.tmp"))
    assert main(["export", "--weights", str(tmp_path / "missing.safetensors")]) == 2


@pytest.mark.parametrize(
    "shapes",
    [
        ((28, False, None, False),),
        ((28, False, None, False), (36, False, None, False)),
        ((28, True, None, False),),
        ((28, True, 0.75, False),),
        ((28, True, 0.75, True),),
    ],
    ids=[
        "one classifier",
        "an ensemble",
        "a classifier with a box channel",
        "... and a context channel",
        "... and an edge channel",
    ],
)
def test_weights_with_a_namer_give_the_same_named_detections_on_both_backends(
    weights: Path, tmp_path: Path, shapes: tuple[tuple[int, bool, float | None, bool], ...]
) -> None:
    """A detector whose metadata names a crop classifier (an ensemble of two, each cutting its own crops;
    one that also sees its box's window, the ink around it, and which crop pixels lie beyond the image):
    torch and onnxruntime (both graphs exported on first use) find the same boxes and give them the same
    names and runner-ups."""
    from digit_detector.naming import CropClassifier, Namer, NamerConfig, NamerEnsemble
    from digit_detector.training.namer import save_namer

    torch.manual_seed(0)
    classifiers = [
        CropClassifier(
            NamerConfig(
                widths=(8, 16, 16),
                crop_size=size,
                box_channel=box_channel,
                context_margin=context,
                edge_channel=edge,
            )
        )
        for size, box_channel, context, edge in shapes
    ]
    with torch.no_grad():  # spread the class probabilities, so that names and runner-ups differ by box
        for classifier in classifiers:
            classifier.head[-1].weight.mul_(40.0)
    namer: Namer = classifiers[0] if len(classifiers) == 1 else NamerEnsemble(classifiers)
    save_namer(namer.eval(), {"version": "random"}, tmp_path / "namer.safetensors")
    model, metadata = load_weights(weights)
    metadata.namer = "namer.safetensors"
    named_weights = save_weights(model, metadata, tmp_path / "detector.safetensors")
    torch_detector = Detector.from_weights(
        named_weights, device="cpu", precision="float32", score_threshold=0.3
    )
    onnx_detector = Detector.from_weights(named_weights, backend="onnx", score_threshold=0.3)
    assert (tmp_path / "namer.onnx").is_file() and (tmp_path / "detector.onnx").is_file()
    for image in IMAGES.values():
        expected, got = torch_detector(image).detections, onnx_detector(image).detections
        assert expected, "the comparison needs detections"
        assert [(d.label, d.runner_up) for d in got] == [(d.label, d.runner_up) for d in expected]
        np.testing.assert_allclose([d.score for d in got], [d.score for d in expected], atol=1e-4)
        np.testing.assert_allclose([d.box for d in got], [d.box for d in expected], atol=1e-2)
    blank = np.full((192, 192), 255, dtype=np.uint8)
    assert onnx_detector(blank, score_threshold=1.0).detections == []  # no boxes: the namer is not run


def test_a_namer_exported_under_other_crop_rules_is_exported_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crops are cut inside the ONNX graph: an export made by a package that cut them otherwise (an
    older `second_stage.CROP_RULES`) is stale even though the namer's weights and record are the same."""
    from digit_detector import second_stage
    from digit_detector.export import export_namer
    from digit_detector.naming import CropClassifier, NamerConfig
    from digit_detector.onnx_backend import load_onnx_namer
    from digit_detector.training.namer import save_namer

    weights = save_namer(CropClassifier(NamerConfig(widths=(4, 8, 8))).eval(), {}, tmp_path / "n.safetensors")
    monkeypatch.setattr(second_stage, "CROP_RULES", second_stage.CROP_RULES - 1)
    export_namer(weights)
    monkeypatch.undo()
    assert load_onnx_namer(weights).record()["crop_rules"] == second_stage.CROP_RULES
    assert "out of date" in capsys.readouterr().err
    load_onnx_namer(weights)  # now current: loaded as it is
    assert "out of date" not in capsys.readouterr().err

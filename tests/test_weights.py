from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from digit_detector.models import build_model, load_model_config
from digit_detector.weights import (
    JSON_WIDTH,
    WeightsError,
    WeightsMetadata,
    load_weights,
    record_json,
    save_weights,
)


def test_record_json_wraps_long_lists_of_values_and_reads_back_the_same() -> None:
    record = {
        "version": "v",
        "short": [1, 2, 3],
        "weights": [[0.123456789 * (i + j) for j in range(40)] for i in range(3)],
        "features": [f"feature number {i}" for i in range(20)],
        "nested": {"empty": [], "value": None},
    }
    text = record_json(record)
    assert json.loads(text) == record
    lines = text.splitlines()
    assert '  "short": [1, 2, 3],' in lines
    assert all(len(line) <= JSON_WIDTH for line in lines)
    # several values to a line, not one per line (which would take over 150 lines)
    assert len(lines) < 60


def test_round_trip_keeps_tensors_and_metadata(random_tiny_weights: Path) -> None:
    model, metadata = load_weights(random_tiny_weights)
    assert metadata.model.name == "yolov3-tiny" and metadata.version == "random"
    record = json.loads(random_tiny_weights.with_suffix(".json").read_text())
    for key in ("model", "class_names", "input", "score_threshold", "training", "metrics"):
        assert key in record
    assert record["input"]["normalization"] == "pixel/255"
    reloaded, _ = load_weights(random_tiny_weights)
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="No weights file"):
        load_weights(tmp_path / "nope.safetensors")


def test_git_lfs_pointer_says_git_lfs_pull(tmp_path: Path) -> None:
    pointer = tmp_path / "model.safetensors"
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 8800000\n"
    )
    with pytest.raises(WeightsError, match="git lfs pull"):
        load_weights(pointer)


def test_truncated_safetensors_is_reported(tmp_path: Path, random_tiny_weights: Path) -> None:
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(random_tiny_weights.read_bytes()[:5000])
    shutil.copy(random_tiny_weights.with_suffix(".json"), truncated.with_suffix(".json"))
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_weights(truncated)


def test_truncated_state_dict_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    torch.save(build_model(load_model_config("yolov3-tiny")).state_dict(), path)
    path.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_weights(path, arch="yolov3-tiny")


def test_weights_of_another_architecture_are_named(tmp_path: Path) -> None:
    wide = load_model_config("yolov3-tiny")
    wide = type(wide)(name=wide.name, width=1.0, anchors=wide.anchors)
    path = save_weights(build_model(wide), WeightsMetadata(model=wide), tmp_path / "wide.safetensors")
    narrow = json.loads(path.with_suffix(".json").read_text())
    narrow["model"]["width"] = 0.25
    path.with_suffix(".json").write_text(json.dumps(narrow))
    with pytest.raises(WeightsError, match=r"does not match the yolov3-tiny architecture .* shape"):
        load_weights(path)


def test_plain_state_dict_loads_with_weights_only(tmp_path: Path) -> None:
    model = build_model(load_model_config("yolov3-tiny"))
    path = tmp_path / "plain.pth"
    torch.save(model.state_dict(), path)
    loaded, metadata = load_weights(path, arch="yolov3-tiny")
    assert metadata.model.name == "yolov3-tiny"
    first = next(iter(model.state_dict()))
    assert torch.equal(loaded.state_dict()[first], model.state_dict()[first])


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(1), "callback": Path("x")}, path)
    with pytest.raises(WeightsError, match="loaded safely"):
        load_weights(path, arch="yolov3-tiny")


def test_safetensors_without_metadata_record(tmp_path: Path, random_tiny_weights: Path) -> None:
    lonely = tmp_path / "lonely.safetensors"
    shutil.copy(random_tiny_weights, lonely)
    with pytest.raises(WeightsError, match="no metadata record"):
        load_weights(lonely)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class_names": ["0", "1"]}, r"2 class names for a model of 12 classes: the record needs one name"),
        ({"class_names": "0123456789ab"}, r"class_names must be a list of non-empty strings"),
        ({"class_names": [str(i) for i in range(11)] + [""]}, r"class_names must be a list of non-empty"),
        ({"score_threshold": 1.5}, r"score_threshold must be a number from 0 to 1, got 1.5"),
        ({"iou_threshold": -0.1}, r"iou_threshold must be a number from 0 to 1, got -0.1"),
        ({"containment_threshold": float("inf")}, r"containment_threshold must be a number from 0 to 1"),
    ],
)
def test_a_record_that_does_not_fit_its_model_is_refused(
    tmp_path: Path, random_tiny_weights: Path, changes: dict[str, object], message: str
) -> None:
    weights = Path(shutil.copy(random_tiny_weights, tmp_path))
    record = json.loads(random_tiny_weights.with_suffix(".json").read_text())
    weights.with_suffix(".json").write_text(json.dumps({**record, **changes}))
    with pytest.raises(WeightsError, match=rf"is not a valid weights metadata record \({message}"):
        load_weights(weights)


def test_a_record_naming_an_unknown_model_and_an_unknown_arch_are_refused(
    tmp_path: Path, random_tiny_weights: Path
) -> None:
    weights = Path(shutil.copy(random_tiny_weights, tmp_path))
    record = json.loads(random_tiny_weights.with_suffix(".json").read_text())
    record["model"]["name"] = "yolov9"
    weights.with_suffix(".json").write_text(json.dumps(record))
    with pytest.raises(WeightsError, match=r"names the model 'yolov9', which this version does not know"):
        load_weights(weights)
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(1)}, plain)
    with pytest.raises(
        WeightsError, match=r"^--arch foo is not an architecture: use one of yolov3, yolov3-tiny"
    ):
        load_weights(plain, arch="foo")

"""Model architectures: output contract, original-checkpoint compatibility, configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from digit_detector.classes import NUM_CLASSES
from digit_detector.models import (
    DEFAULT_ANCHORS,
    ModelConfig,
    UnknownModelError,
    YoloModel,
    YOLOv3,
    YOLOv3Tiny,
    available_models,
    build_model,
    load_model_config,
)

FIXTURE = Path(__file__).parent / "fixtures" / "seed_yolov3_checkpoint.json"
EXPECTED_ANCHORS = (
    ((0.28, 0.22), (0.38, 0.48), (0.90, 0.78)),
    ((0.07, 0.15), (0.15, 0.11), (0.14, 0.29)),
    ((0.02, 0.03), (0.04, 0.07), (0.08, 0.06)),
)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64}


@pytest.fixture(scope="module")
def seed_checkpoint() -> dict[str, Any]:
    with FIXTURE.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.fixture(scope="module")
def yolov3() -> YoloModel:
    torch.manual_seed(0)
    return build_model(load_model_config("yolov3")).eval()


def _tiny(width: float = 0.5) -> YoloModel:
    return build_model(ModelConfig(name="yolov3-tiny", width=width)).eval()


def _check_outputs(model: YoloModel, batch: int = 2) -> None:
    with torch.no_grad():
        outputs = model(torch.rand(batch, 3, 192, 192))
    assert isinstance(outputs, list)
    assert [tuple(o.shape) for o in outputs] == [(batch, 3, s, s, 5 + NUM_CLASSES) for s in (6, 12, 24)]
    assert all(o.dtype == torch.float32 and torch.isfinite(o).all() for o in outputs)


def test_yolov3_output_shapes(yolov3: YoloModel) -> None:
    assert isinstance(yolov3, YOLOv3)
    assert yolov3.strides == (32, 16, 8)
    _check_outputs(yolov3)


@pytest.mark.parametrize("width", [0.25, 0.5, 1.0])
def test_tiny_output_shapes(width: float) -> None:
    model = _tiny(width)
    assert isinstance(model, YOLOv3Tiny)
    assert model.strides == (32, 16, 8)
    assert model.config.width == width
    _check_outputs(model)


def test_grid_sizes_are_measured_from_the_heads_and_leave_the_model_as_it_was() -> None:
    model = _tiny(0.25).train()
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert model.training and norm.running_mean is not None
    before = norm.running_mean.clone()
    assert model.grid_sizes(192) == tuple(192 // stride for stride in model.strides) == (6, 12, 24)
    assert model.grid_sizes(256) == (8, 16, 32)
    assert model.training and torch.equal(norm.running_mean, before)  # no statistics changed


def test_tiny_width_changes_param_count() -> None:
    counts = [_tiny(w).num_parameters() for w in (0.25, 0.5, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    assert 1_500_000 < counts[1] < 3_000_000  # the default width 0.5 stays small


def test_head_reshape_channel_order() -> None:
    """Raw conv channel a * 17 + k lands at output [:, a, :, :, k] (objectness first)."""
    model = _tiny()
    head = model.heads()[0]
    x = torch.rand(1, head.out_conv.in_channels // 2, 6, 6)
    with torch.no_grad():
        raw = head.pred(x)
        out = head(x)
    for anchor in range(3):
        for k in (0, 1, 4, 5, 16):
            torch.testing.assert_close(out[:, anchor, :, :, k], raw[:, anchor * 17 + k])


def test_init_head_bias_sets_low_objectness(yolov3: YoloModel) -> None:
    for model in (yolov3, _tiny()):
        heads = model.heads()
        assert len(heads) == 3
        for head in heads:
            bias = head.out_conv.bias
            assert bias is not None
            per_anchor = bias.detach().view(3, 5 + NUM_CLASSES)
            assert torch.all(per_anchor[:, 0] == -4.0)
            assert torch.all(per_anchor[:, 1:] == 0.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_tiny_exports_to_onnx(tmp_path: Path) -> None:
    """No value-dependent control flow: the traced graph matches eager, with a dynamic batch."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = _tiny()
    path = tmp_path / "tiny.onnx"
    torch.onnx.export(
        model,
        (torch.rand(1, 3, 192, 192),),
        str(path),
        dynamo=False,
        input_names=["images"],
        output_names=["p32", "p16", "p8"],
        dynamic_axes={"images": {0: "batch"}},
    )
    x = torch.rand(2, 3, 192, 192)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        expected = model(x)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(torch.from_numpy(g), e, atol=1e-4, rtol=1e-4)


def test_yolov3_state_dict_matches_original_checkpoint(
    yolov3: YoloModel, seed_checkpoint: dict[str, Any]
) -> None:
    entries = seed_checkpoint["state_dict"]
    expected = {name: tuple(shape) for name, shape, _ in entries}
    assert len(expected) == len(entries) == 453
    actual = {name: tuple(t.shape) for name, t in yolov3.state_dict().items()}
    assert sorted(set(expected) - set(actual)) == []  # nothing in the checkpoint is left unused
    assert sorted(set(actual) - set(expected)) == []  # nothing the model needs is missing
    mismatched = {k: (actual[k], expected[k]) for k in expected if actual[k] != expected[k]}
    assert mismatched == {}
    assert yolov3.num_parameters() == seed_checkpoint["total_parameters"] == 61_583_275


def test_yolov3_loads_original_checkpoint_strict(yolov3: YoloModel, seed_checkpoint: dict[str, Any]) -> None:
    gen = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for name, shape, dtype in seed_checkpoint["state_dict"]:
        torch_dtype = DTYPES[dtype]
        if torch_dtype == torch.int64:
            state[name] = torch.zeros(shape, dtype=torch_dtype)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=gen, dtype=torch_dtype) + 0.5
        else:
            state[name] = torch.randn(shape, generator=gen, dtype=torch_dtype) * 0.01
    assert all(t.dtype == torch.int64 for n, t in state.items() if n.endswith("num_batches_tracked"))

    model = YOLOv3(ModelConfig(name="yolov3"))
    result = model.load_state_dict(state, strict=True)
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    loaded = model.state_dict()
    probe = "layers.29.pred.1.conv.bias"
    torch.testing.assert_close(loaded[probe], state[probe])  # overrides init_head_bias
    _check_outputs(model.eval(), batch=1)


def test_config_loading_by_name() -> None:
    assert available_models() == ["yolov3", "yolov3-tiny"]
    for name in available_models():
        config = load_model_config(name)
        assert config.name == name
        assert config.num_classes == NUM_CLASSES == 12
        assert config.input_size == 192
        assert config.anchors == EXPECTED_ANCHORS == DEFAULT_ANCHORS
    assert load_model_config("yolov3-tiny").width == 0.5


def test_config_loading_explicit_dir(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "narrow.yaml").write_text("name: yolov3-tiny\nwidth: 0.25\n", encoding="utf-8")
    config = load_model_config("narrow", configs_dir=tmp_path)
    assert config == ModelConfig(name="yolov3-tiny", width=0.25)
    assert config.anchors == EXPECTED_ANCHORS


def test_unknown_model_name_lists_available() -> None:
    with pytest.raises(UnknownModelError, match=r"yolov3-huge.*available models: yolov3, yolov3-tiny"):
        load_model_config("yolov3-huge")
    with pytest.raises(ValueError, match="available models: yolov3, yolov3-tiny"):
        build_model(ModelConfig(name="resnet"))


def test_model_config_round_trip() -> None:
    config = ModelConfig(name="yolov3-tiny", width=0.25, input_size=224 + 32)
    as_json = json.dumps(config.to_dict())
    restored = ModelConfig.from_dict(json.loads(as_json))
    assert restored == config
    assert restored.to_dict() == config.to_dict()
    assert isinstance(restored.anchors[0][0], tuple)


def test_model_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({"name": "yolov3", "widht": 0.5})
    with pytest.raises(ValueError, match="anchors"):
        ModelConfig(name="yolov3", anchors=((((0.1, 0.1),) * 3),) * 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_size"):
        ModelConfig(name="yolov3", input_size=200)
    with pytest.raises(ValueError, match="width"):
        ModelConfig(name="yolov3-tiny", width=0)


def test_neck_blocks_are_written_only_when_set_and_never_negative() -> None:
    plain = ModelConfig(name="yolov3-tiny", width=0.25)
    grown = ModelConfig(name="yolov3-tiny", width=0.25, neck_blocks=2)
    assert "neck_blocks" not in plain.to_dict()  # metadata of models without them reads as before
    assert ModelConfig.from_dict(json.loads(json.dumps(grown.to_dict()))) == grown
    with pytest.raises(ValueError, match="neck_blocks"):
        ModelConfig(name="yolov3-tiny", neck_blocks=-1)
    with pytest.raises(ValueError, match="yolov3-tiny option"):
        build_model(ModelConfig(name="yolov3", neck_blocks=1))


def test_a_model_grown_with_neck_blocks_starts_as_the_model_it_grew_from() -> None:
    from digit_detector.models.yolov3_tiny import load_grown_state

    torch.manual_seed(0)
    plain = build_model(ModelConfig(name="yolov3-tiny", width=0.25)).eval()
    grown = build_model(ModelConfig(name="yolov3-tiny", width=0.25, neck_blocks=1)).eval()
    load_grown_state(grown, plain.state_dict())
    added = set(grown.state_dict()) - set(plain.state_dict())
    assert added and all(key.startswith(("fuse16.", "fuse8.")) for key in added)
    image = torch.rand(2, 3, 192, 192)
    with torch.no_grad():
        for before, after in zip(plain(image), grown(image), strict=True):
            torch.testing.assert_close(after, before)
    # the blocks are trainable: a gradient reaches their zero-started batch norms
    grown.train()
    sum(head.sum() for head in grown(image)).backward()
    assert float(grown.fuse8.layers[0][1].bn.weight.grad.abs().sum()) > 0


def test_growing_refuses_weights_that_lack_more_than_the_neck_blocks() -> None:
    from digit_detector.models.yolov3_tiny import load_grown_state

    grown = build_model(ModelConfig(name="yolov3-tiny", width=0.25, neck_blocks=1))
    state = build_model(ModelConfig(name="yolov3-tiny", width=0.25)).state_dict()
    del state["head8.pred.1.conv.weight"]
    with pytest.raises(RuntimeError, match="head8"):
        load_grown_state(grown, state)

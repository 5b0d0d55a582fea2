"""Targets, loss and a tiny end-to-end training run through the Hydra entry point."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from digit_detector.data.yolo_format import load_split, write_data_yaml, write_sample
from digit_detector.models import DEFAULT_ANCHORS, build_model, load_model_config
from digit_detector.training.dataset import DetectionDataset
from digit_detector.training.loss import YoloLoss
from digit_detector.training.module import DetectorModule, channels_last
from digit_detector.training.targets import build_targets
from digit_detector.training.train import lightning_precision, load_config, train
from digit_detector.weights import WeightsError, load_weights

ANCHORS = torch.tensor(DEFAULT_ANCHORS)
GRIDS = (6, 12, 24)


def test_a_box_goes_to_its_best_anchor_cell() -> None:
    # 0.38 x 0.48 of the image: exactly anchor 1 of the coarse scale; centre (96, 60) px -> cell col 3, row 1
    w, h = 0.38 * 192, 0.48 * 192
    box = torch.tensor([[96 - w / 2, 60 - h / 2, 96 + w / 2, 60 + h / 2]])
    targets = build_targets(box, torch.tensor([7]), ANCHORS, GRIDS, 192)
    positive = torch.nonzero(targets[0][..., 0] == 1).tolist()
    assert positive == [[1, 1, 3]]
    cell = targets[0][1, 1, 3]
    torch.testing.assert_close(cell[1:], torch.tensor([0.0, 60 / 32 - 1, 0.38, 0.48, 7.0]))
    assert not (targets[1][..., 0] == 1).any() and not (targets[2][..., 0] == 1).any()


def test_similar_anchors_are_ignored_not_background() -> None:
    # a box between the coarse anchor (0.28, 0.22) and (0.38, 0.48): one positive, the other ignored
    box = torch.tensor([[50.0, 50.0, 50 + 0.33 * 192, 50 + 0.33 * 192]])
    targets = build_targets(box, torch.tensor([2]), ANCHORS, GRIDS, 192)
    assert (targets[0][..., 0] == 1).sum() == 1
    assert (targets[0][..., 0] == -1).sum() >= 1


def test_positive_threshold_trains_every_well_matching_anchor() -> None:
    # between (0.28, 0.22) and (0.38, 0.48): best anchor only by default, both with a low positive threshold
    box = torch.tensor([[50.0, 50.0, 50 + 0.33 * 192, 50 + 0.33 * 192]])
    only_best = build_targets(box, torch.tensor([2]), ANCHORS, GRIDS, 192)
    several = build_targets(box, torch.tensor([2]), ANCHORS, GRIDS, 192, positive_threshold=0.4)
    assert sum(int((t[..., 0] == 1).sum()) for t in only_best) == 1
    assert sum(int((t[..., 0] == 1).sum()) for t in several) == 2
    cells = several[0][several[0][..., 0] == 1]
    assert (cells[:, 5] == 2).all()
    torch.testing.assert_close(cells[:, 3:5], torch.full((2, 2), 0.33))


def test_a_cell_two_boxes_claim_goes_to_the_box_it_fits_best() -> None:
    # same centre: a box exactly the size of anchor (0.38, 0.48) and a box that only passes the threshold
    def centred(w: float, h: float) -> list[float]:
        return [96 - w * 96, 96 - h * 96, 96 + w * 96, 96 + h * 96]

    boxes = torch.tensor([centred(0.38, 0.48), centred(0.26, 0.26)])
    targets = build_targets(boxes, torch.tensor([5, 6]), ANCHORS, GRIDS, 192, positive_threshold=0.3)
    assert targets[0][1, 3, 3, 5] == 5  # box 2 fits anchor 0 best and only passes the threshold on anchor 1
    assert targets[0][0, 3, 3, 5] == 6


def test_xy_scale_also_assigns_the_neighbouring_cells_nearest_the_centre() -> None:
    # anchor (0.38, 0.48) exactly; centre (70, 40) px = grid (2.19, 1.25): near the left and upper edges
    w, h = 0.38 * 192, 0.48 * 192
    box = torch.tensor([[70 - w / 2, 40 - h / 2, 70 + w / 2, 40 + h / 2]])
    plain = build_targets(box, torch.tensor([4]), ANCHORS, GRIDS, 192)
    wide = build_targets(box, torch.tensor([4]), ANCHORS, GRIDS, 192, xy_scale=2.0)
    assert torch.nonzero(plain[0][..., 0] == 1).tolist() == [[1, 1, 2]]
    assert sorted(torch.nonzero(wide[0][..., 0] == 1).tolist()) == [[1, 0, 2], [1, 1, 1], [1, 1, 2]]
    # offsets are relative to each assigned cell, so they leave 0..1 for the neighbours
    torch.testing.assert_close(wide[0][1, 1, 1, 1:3], torch.tensor([70 / 32 - 1, 40 / 32 - 1]))
    torch.testing.assert_close(wide[0][1, 0, 2, 1:3], torch.tensor([70 / 32 - 2, 40 / 32]))
    assert (wide[0][wide[0][..., 0] == 1][:, 5] == 4).all()


def test_a_centre_cell_wins_over_another_box_s_neighbour_claim() -> None:
    # box A's centre is in cell (col 2, row 1); box B's centre is in the cell to its right, near their edge
    w, h = 0.38 * 192, 0.48 * 192
    a = [80 - w / 2, 48 - h / 2, 80 + w / 2, 48 + h / 2]  # grid (2.5, 1.5)
    b = [97 - w / 2, 48 - h / 2, 97 + w / 2, 48 + h / 2]  # grid (3.03, 1.5): its left neighbour is A's cell
    targets = build_targets(torch.tensor([a, b]), torch.tensor([1, 2]), ANCHORS, GRIDS, 192, xy_scale=2.0)
    assert targets[0][1, 1, 2, 5] == 1
    assert targets[0][1, 1, 3, 5] == 2


def test_empty_image_has_only_background() -> None:
    targets = build_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), ANCHORS, GRIDS, 192)
    assert all((t == 0).all() for t in targets)


@pytest.mark.parametrize(("box_loss", "xy_scale"), [("mse", 1.0), ("mse+giou", 1.0), ("mse", 2.0)])
def test_loss_falls_when_fitting_one_batch(box_loss: str, xy_scale: float) -> None:
    torch.manual_seed(0)
    model = build_model(load_model_config("yolov3-tiny"))
    loss_fn = YoloLoss(ANCHORS, box_loss=box_loss, xy_scale=xy_scale)
    images = torch.rand(2, 3, 192, 192)
    boxes = [torch.tensor([[20.0, 30.0, 60.0, 100.0]]), torch.tensor([[100.0, 40.0, 150.0, 160.0]])]
    per_image = [build_targets(b, torch.tensor([3]), ANCHORS, GRIDS, 192, xy_scale=xy_scale) for b in boxes]
    targets = [torch.stack(scale) for scale in zip(*per_image, strict=True)]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        total, terms = loss_fn(model(images), targets)
        assert set(terms) == {"box", "objectness", "background", "classes"}
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.6 * losses[0]


def _outputs_predicting(
    targets: list[torch.Tensor], shift: float, objectness_logit: float
) -> list[torch.Tensor]:
    """Head outputs whose positives predict their true box moved by ``shift`` cells, at one objectness."""
    outputs = []
    for target, anchors in zip(targets, ANCHORS, strict=True):
        output = torch.zeros(*target.shape[:-1], 17)
        positive = target[..., 0] == 1
        wanted = target[positive]
        slot_anchors = anchors.view(1, -1, 1, 1, 2).expand(*positive.shape, 2)[positive]
        output[..., 0][positive] = objectness_logit
        output[..., 1:3][positive] = torch.logit(wanted[:, 1:3].clamp(1e-4, 1 - 1e-4)) + shift
        output[..., 3:5][positive] = torch.log(wanted[:, 3:5] / slot_anchors)
        outputs.append(output)
    return outputs


def test_iou_objectness_target_asks_less_of_a_box_that_fits_its_object_worse() -> None:
    box = torch.tensor([[40.0, 40.0, 100.0, 140.0]])
    targets = [t[None] for t in build_targets(box, torch.tensor([3]), ANCHORS, GRIDS, 192)]
    plain, by_iou = YoloLoss(ANCHORS), YoloLoss(ANCHORS, objectness_iou=1.0)

    # a sure positive (objectness logit 6): on its true box both targets are 1, off it only the plain one is
    def objectness_terms(outputs: list[torch.Tensor]) -> tuple[float, float]:
        by_fit, by_one = (loss(outputs, targets)[1]["objectness"].item() for loss in (by_iou, plain))
        return by_fit, by_one

    on_box, plain_on_box = objectness_terms(_outputs_predicting(targets, 0.0, 6.0))
    assert on_box == pytest.approx(plain_on_box, abs=1e-4)
    off_box, plain_off_box = objectness_terms(_outputs_predicting(targets, 1.5, 6.0))
    assert off_box > plain_off_box + 0.5
    with pytest.raises(ValueError, match="objectness_iou"):
        YoloLoss(ANCHORS, objectness_iou=1.5)


def test_channels_last_training_computes_the_same_loss_and_hands_back_the_plain_layout() -> None:
    torch.manual_seed(0)
    module = DetectorModule(load_model_config("yolov3-tiny"))
    images = torch.rand(2, 3, 192, 192)
    per_image = [
        build_targets(torch.tensor([[20.0, 30.0, 60.0, 100.0]]), torch.tensor([3]), ANCHORS, GRIDS, 192)
    ] * 2
    targets = [torch.stack(scale) for scale in zip(*per_image, strict=True)]
    plain, _ = module.loss(module.model(images), targets)
    module.on_fit_start()
    convolution = next(m for m in module.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert convolution.weight.is_contiguous(memory_format=torch.channels_last)
    fast, _ = module.loss(module.model(channels_last(images)), targets)
    assert torch.allclose(plain, fast, rtol=1e-4)
    module.on_fit_end()
    assert all(parameter.is_contiguous() for parameter in module.model.parameters())


def make_dataset(root: Path, count: int = 12) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for index in range(count):
            image = np.full((400, 400, 3), 255, dtype=np.uint8)
            x, y = (int(v) for v in rng.integers(40, 300, size=2))
            cv2.line(image, (x, y), (x + 10, y + 80), (0, 0, 0), 8)
            write_sample(
                root, split, f"{index:03d}", image, np.array([1]), np.array([[x - 4, y - 4, x + 14, y + 84]])
            )
    write_data_yaml(root, {"train": "test-fingerprint"})


def test_dataset_items_carry_the_targets_of_their_boxes(tmp_path: Path) -> None:
    make_dataset(tmp_path, count=3)
    dataset = DetectionDataset(tmp_path, "train", ANCHORS, GRIDS, progress=False)
    for index in range(len(dataset)):
        image, targets, boxes, class_ids = dataset[index]
        assert image.shape == (3, 192, 192) and float(image.min()) == 0.0  # the stroke is there
        expected = build_targets(boxes, class_ids, ANCHORS, GRIDS, 192)
        assert [t.shape for t in targets] == [(3, g, g, 6) for g in GRIDS]
        assert all(torch.equal(got, want) for got, want in zip(targets, expected, strict=True))
        assert sum(int((t[..., 0] == 1).sum()) for t in targets) == 1  # one positive anchor for the one box


def test_a_split_linked_to_a_missing_folder_is_named_as_such(tmp_path: Path) -> None:
    make_dataset(tmp_path, count=1)
    (tmp_path / "images" / "linked").symlink_to("../../nowhere/images/val")
    dangling = r"linked is a link to \.\./\.\./nowhere/images/val, which does not exist"
    (problem,) = load_split(tmp_path, "linked").problems  # every caller of the shared loader is told
    assert re.search(dangling, problem.reason)
    assert load_split(tmp_path, "absent").problems == []
    with pytest.raises(ValueError, match=dangling):
        DetectionDataset(tmp_path, "linked", ANCHORS, GRIDS, progress=False)
    with pytest.raises(ValueError, match="no labelled images in"):
        DetectionDataset(tmp_path, "absent", ANCHORS, GRIDS, progress=False)


#: Overrides of a one-epoch CPU run of a width-0.25 tiny on ``make_dataset``'s canvases (the width last).
ONE_EPOCH_TINY = ["data.batch_size=4", "trainer.max_epochs=1", "trainer.accelerator=cpu", "model.width=0.25"]


@pytest.mark.slow  # a real training run
def test_tiny_training_run_exports_loadable_weights(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    overrides = [f"data.root={tmp_path / 'data'}", f"run_dir={tmp_path / 'run'}", *ONE_EPOCH_TINY]
    weights = train(load_config(overrides), "test")
    _, metadata = load_weights(weights)
    assert metadata.model.width == 0.25
    assert metadata.training["data_fingerprint"] == {"train": "test-fingerprint"}
    assert metadata.training["command"] == "test"
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
    assert "val_map_per_class_nms_best_epoch" in metadata.metrics
    assert metadata.metrics["test"]["images"] == 12 and 0.05 <= metadata.score_threshold <= 0.95
    assert (tmp_path / "run" / "eval-test" / "report.json").exists()

    # fine-tuning from those weights: the run starts from them and the metadata records the chain of runs
    tuned = train(
        load_config(
            [*overrides, f"run_dir={tmp_path / 'tuned'}", f"init_weights={weights}", "version=tuned"]
        ),
        "tune",
    )
    _, tuned_metadata = load_weights(tuned)
    chain = tuned_metadata.training["chain"]
    assert [step["command"] for step in chain] == ["test", "tune"] and chain[-1]["version"] == "tuned"
    with pytest.raises(WeightsError, match="another shape"):
        train(load_config([*overrides[:-1], "model.width=0.5", f"init_weights={weights}"]), "wrong shape")
    # growing neck blocks on those weights: the same model otherwise, so the run may start from them
    grown = train(
        load_config(
            [*overrides, f"run_dir={tmp_path / 'grown'}", f"init_weights={weights}", "model.neck_blocks=1"]
        ),
        "grow",
    )
    assert load_weights(grown)[1].model.neck_blocks == 1
    with pytest.raises(WeightsError, match="another shape"):  # blocks are grown, never dropped
        train(load_config([*overrides, f"run_dir={tmp_path / 'shrunk'}", f"init_weights={grown}"]), "shrink")


@pytest.mark.slow  # two real training runs
def test_a_run_with_ema_ships_the_averaged_weights(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    overrides = [f"data.root={tmp_path / 'data'}", "data.test_split=null", *ONE_EPOCH_TINY]
    start = train(load_config([*overrides, f"run_dir={tmp_path / 'start'}"]), "start")
    fine_tune = [*overrides, f"init_weights={start}", "optimizer.learning_rate=0.01"]
    plain = train(load_config([*fine_tune, f"run_dir={tmp_path / 'plain'}"]), "plain")
    # decay 1.0: the average is the weights after the first of the three steps and never moves after
    frozen = train(load_config([*fine_tune, f"run_dir={tmp_path / 'ema'}", "trainer.ema_decay=1.0"]), "ema")

    def distance_from_start(weights: Path) -> float:
        before, after = load_weights(start)[0].state_dict(), load_weights(weights)[0].state_dict()
        return sum(float((after[k].float() - before[k].float()).abs().sum()) for k in before)

    assert 0 < distance_from_start(frozen) < distance_from_start(plain) / 2
    assert load_weights(frozen)[1].training["config"]["trainer"]["ema_decay"] == 1.0


@pytest.mark.slow  # a real training run
def test_ship_best_writes_the_best_checkpoint_s_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digit_detector.training.module import DetectorModule

    def falling_map(module: DetectorModule) -> None:  # the first epoch validates best, whatever it learnt
        module.val_map.reset()
        module.log("val/map", torch.tensor(1.0 / (1 + module.current_epoch)))

    monkeypatch.setattr(DetectorModule, "on_validation_epoch_end", falling_map)
    make_dataset(tmp_path / "data")
    overrides = [f"data.root={tmp_path / 'data'}", "data.test_split=null", *ONE_EPOCH_TINY]
    with pytest.raises(ValueError, match=r"trainer\.ship must be one of last, best"):
        train(load_config([*overrides, "trainer.ship=middle"]), "bad")
    three_epochs = [o for o in overrides if not o.startswith("trainer.max_epochs")] + [
        "trainer.max_epochs=3",
        "trainer.ema_decay=0.9",
        "optimizer.learning_rate=0.05",
    ]
    shipped = {
        ship: load_weights(
            train(load_config([*three_epochs, f"run_dir={tmp_path / ship}", f"trainer.ship={ship}"]), ship)
        )
        for ship in ("last", "best")
    }
    best = torch.load(tmp_path / "best" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    assert best["epoch"] == 0
    model, metadata = shipped["best"]
    state, last_state = model.state_dict(), shipped["last"][0].state_dict()
    assert all(torch.equal(state[k], best["state_dict"][f"model.{k}"].float()) for k in state)
    assert not all(torch.equal(state[k], last_state[k]) for k in state)
    assert metadata.training["shipped"] == {
        "weights": "best",
        "epoch": best["epoch"],
        "checkpoint": str(tmp_path / "best" / "checkpoints" / "best.ckpt"),
    }
    assert shipped["last"][1].training["shipped"] == {"weights": "last"}


def test_one_cycle_factor_warms_up_then_anneals() -> None:
    from digit_detector.training.module import one_cycle_factor

    assert one_cycle_factor(0.0, 0.1) == pytest.approx(1 / 20)
    assert one_cycle_factor(0.1, 0.1) == pytest.approx(1.0)
    assert one_cycle_factor(1.0, 0.1) == pytest.approx(1 / 1000)
    assert one_cycle_factor(5.0, 0.1) == pytest.approx(1 / 1000)  # past the budget: stays at the floor
    values = [one_cycle_factor(p / 100, 0.1) for p in range(10, 101)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_the_config_groups_build_the_loss_and_optimizer_of_the_defaults() -> None:
    from hydra.utils import instantiate

    from digit_detector.models import ModelConfig
    from digit_detector.training.loss import LossWeights

    cfg = load_config(["optimizer.learning_rate=0.0007", "loss.weights.classes=2.0"])
    config = ModelConfig.from_dict(dict(cfg.model))
    anchors = torch.tensor(config.anchors)
    loss = instantiate(cfg.loss, anchors=anchors, xy_scale=config.xy_scale)
    assert isinstance(loss, YoloLoss) and loss.box_loss == "mse" and torch.equal(loss.anchors, anchors)
    assert loss.weights == LossWeights(classes=2.0)
    assert (loss.ignore_threshold, loss.positive_threshold) == (0.5, 0.5)
    module = DetectorModule(config, instantiate(cfg.optimizer.build), loss=loss, time_budget_s=60.0)
    optimizer = module.configure_optimizers()["optimizer"]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.0005, 0.0]
    assert [group["initial_lr"] for group in optimizer.param_groups] == [0.0007, 0.0007]
    with pytest.raises(ValueError, match="anchors"):
        DetectorModule(config, loss=YoloLoss(anchors * 2))


@pytest.mark.slow  # a real training run
def test_a_bf16_mixed_run_on_the_cpu_ships_float32_weights(tmp_path: Path) -> None:
    make_dataset(tmp_path / "data")
    overrides = [
        f"data.root={tmp_path / 'data'}",
        f"run_dir={tmp_path / 'run'}",
        "data.test_split=null",
        "trainer.precision=bf16-mixed",  # autocast to bfloat16 on the CPU, the weights kept in float32
        *ONE_EPOCH_TINY,
    ]
    model, metadata = load_weights(train(load_config(overrides), "bf16"))
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())
    assert metadata.training["config"]["trainer"]["precision"] == "bf16-mixed"
    assert metadata.training["precision"] == "bf16-mixed"


@pytest.mark.parametrize(
    ("requested", "cuda", "amx", "expected"),
    [
        ("auto", True, True, "16-mixed"),
        ("auto", False, True, "bf16-mixed"),  # a CPU with AMX: 1.5-1.8x the images/s in bfloat16
        ("auto", False, False, "32-true"),  # elsewhere bfloat16 is emulated or gains less
        ("32-true", False, True, "32-true"),  # asked for: as it is
        ("bf16-mixed", False, False, "bf16-mixed"),
    ],
)
def test_auto_precision_is_bfloat16_on_a_cpu_with_amx_and_float32_on_others(
    monkeypatch: pytest.MonkeyPatch, requested: str, cuda: bool, amx: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert lightning_precision(requested, "auto") == expected
    assert lightning_precision(requested, "cpu") == (expected if expected != "16-mixed" else "bf16-mixed")

"""``python -m digit_detector train [hydra overrides]``: train, pick the score threshold, evaluate, export.

The run directory gets Lightning checkpoints (resumable), CSV logs, and ``<model>.safetensors`` + ``.json``
whose metadata records the command, the data fingerprint, the chosen threshold and the evaluation report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from digit_detector.data.yolo_format import load_split, split_breakdowns
from digit_detector.detector import Detector
from digit_detector.devices import bfloat16_is_fast
from digit_detector.evaluation.files import save_report
from digit_detector.evaluation.scoring import evaluate
from digit_detector.evaluation.thresholds import choose_thresholds
from digit_detector.models import ModelConfig, default_configs_dir
from digit_detector.models.yolov3_tiny import load_grown_state
from digit_detector.torch_backend import TorchBackend
from digit_detector.training.dataset import DetectionDataset, collate
from digit_detector.training.module import DetectorModule
from digit_detector.weights import WeightsError, WeightsMetadata, load_weights, save_weights


def load_config(overrides: Sequence[str], configs_dir: Path | None = None) -> DictConfig:
    with initialize_config_dir(str((configs_dir or default_configs_dir()).resolve()), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def make_logger(kind: str, run_dir: Path) -> Logger:
    if kind == "csv":
        return CSVLogger(save_dir=str(run_dir), name="logs")
    if kind == "tensorboard":
        return TensorBoardLogger(save_dir=str(run_dir), name="logs")
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger  # optional: pip install wandb

        return WandbLogger(save_dir=str(run_dir), project="digit-detector")
    raise ValueError(f"logger must be csv, tensorboard or wandb, got {kind!r}")


def data_fingerprint(root: Path) -> dict[str, Any]:
    path = Path(root) / "data.yaml"
    record = yaml.safe_load(path.read_text()) if path.exists() else {}
    return dict(record.get("fingerprints", {}))


#: ``trainer.ship``: which weights a run writes as its ``.safetensors``
SHIP_CHOICES = ("last", "best")


def check_ship(cfg: DictConfig) -> str:
    """``cfg.trainer.ship`` (default ``last``); ValueError for anything but :data:`SHIP_CHOICES`."""
    ship = str(cfg.trainer.get("ship", "last"))
    if ship not in SHIP_CHOICES:
        raise ValueError(f"trainer.ship must be one of {', '.join(SHIP_CHOICES)}, got {ship!r}")
    return ship


def lightning_precision(requested: str, accelerator: str) -> str:
    """Lightning's precision for ``trainer.precision``: ``auto`` is 16-mixed on CUDA, bf16-mixed on a CPU with
    AMX (:func:`~digit_detector.devices.bfloat16_is_fast`: the training step 1.5-1.8x the images/s there,
    docs/experiments.md 4.32.0; the weights stay float32), else 32-true; any other value as it is."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda"):
        return "16-mixed"
    return "bf16-mixed" if bfloat16_is_fast(torch.device("cpu")) else "32-true"


def train(cfg: DictConfig, command: str) -> Path:
    """Run one training from a composed config; returns the exported weights path."""
    ship = check_ship(cfg)
    L.seed_everything(cfg.seed, workers=True)
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 matmuls on tensor cores (the fp32 parts under AMP)
    model_config = ModelConfig.from_dict(OmegaConf.to_container(cfg.model, resolve=True))  # type: ignore[arg-type]
    run_dir = Path(cfg.run_dir or f"runs/{model_config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))

    anchors = torch.tensor(model_config.anchors, dtype=torch.float32)
    # the loss and the optimizer come from their config groups' _target_; the targets follow the loss's
    # anchor assignment, on the grids the model's heads really output
    loss = instantiate(cfg.loss, anchors=anchors, xy_scale=model_config.xy_scale)
    module = DetectorModule(
        model_config,
        optimizer=instantiate(cfg.optimizer.build),
        warmup_fraction=cfg.optimizer.warmup_fraction,
        loss=loss,
        time_budget_s=cfg.trainer.time_budget_minutes * 60 if cfg.trainer.time_budget_minutes else None,
    )
    grid_sizes = module.model.grid_sizes(model_config.input_size)
    data = cfg.data
    root = Path(data.root)
    ignore = loss.ignore_threshold
    positive = loss.positive_threshold
    train_set = DetectionDataset(
        root,
        data.train_split,
        anchors,
        grid_sizes,
        model_config.input_size,
        data.train_limit,
        ignore_threshold=ignore,
        positive_threshold=positive,
        xy_scale=model_config.xy_scale,
        workers=data.get("load_workers"),
    )
    val_set = DetectionDataset(
        root,
        data.val_split,
        anchors,
        grid_sizes,
        model_config.input_size,
        data.val_limit,
        ignore_threshold=ignore,
        positive_threshold=positive,
        xy_scale=model_config.xy_scale,
        workers=data.get("load_workers"),
    )
    loaders: dict[str, Any] = {
        "collate_fn": collate,
        "num_workers": data.num_workers,
        "persistent_workers": data.num_workers > 0,
    }
    train_loader = DataLoader(train_set, batch_size=data.batch_size, shuffle=True, drop_last=True, **loaders)
    val_loader = DataLoader(val_set, batch_size=data.batch_size * 2, shuffle=False, **loaders)

    chain: list[dict[str, Any]] = []
    if cfg.get("init_weights"):
        previous, previous_metadata = load_weights(cfg.init_weights)
        grown = dataclasses.replace(previous_metadata.model, neck_blocks=model_config.neck_blocks)
        if grown.to_dict() != model_config.to_dict() or previous_metadata.model.neck_blocks not in (
            0,
            model_config.neck_blocks,
        ):
            raise WeightsError(
                f"{cfg.init_weights} holds a {previous_metadata.model.name} of another shape than this run's "
                "model config; fine-tuning needs the same model (name, width, anchors, input size), "
                "or the same model without neck blocks to grow them on."
            )
        load_grown_state(module.model, previous.state_dict())
        chain = list(previous_metadata.training.get("chain", [])) or [
            {
                "stage": "detector",
                "version": previous_metadata.version,
                "command": previous_metadata.training.get("command"),
            }
        ]
        print(f"fine-tuning from {cfg.init_weights} ({previous_metadata.version})")
    chain.append({"stage": "detector", "version": str(cfg.version or run_dir.name), "command": command})
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", monitor="val/map", mode="max", save_last=True, filename="best"
    )
    callbacks: list[Callback] = [checkpoint, LearningRateMonitor(logging_interval="epoch")]
    if cfg.trainer.get("ema_decay") is not None:
        # validation, the checkpoints and the shipped weights use the moving average of the weights
        callbacks.append(EMAWeightAveraging(decay=float(cfg.trainer.ema_decay)))
    precision = lightning_precision(str(cfg.trainer.precision), str(cfg.trainer.accelerator))
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=cfg.trainer.devices,
        strategy=cfg.trainer.strategy,
        precision=cast(Any, precision),  # a name Lightning checks itself
        max_epochs=cfg.trainer.max_epochs,
        max_time=(
            {"minutes": cfg.trainer.time_budget_minutes}
            if cfg.trainer.time_budget_minutes
            else cfg.trainer.max_time
        ),
        check_val_every_n_epoch=cfg.trainer.check_val_every_n_epoch,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
        logger=make_logger(cfg.logger, run_dir),
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        deterministic=False,
    )
    started = time.perf_counter()
    trainer.fit(module, train_loader, val_loader, ckpt_path=cfg.resume)
    seconds = time.perf_counter() - started
    if not trainer.is_global_zero:
        return run_dir

    # The schedule anneals to the end, so the final weights are the ones to ship by default (a run stopped by
    # its time budget may end mid-epoch, after the last checkpoint); ship=best takes the best checkpoint's
    # (with EMA, its state_dict is the average, as validated).
    shipped: dict[str, Any] = {"weights": "last"}
    if ship == "best" and checkpoint.best_model_path:
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
        module.load_state_dict(best["state_dict"])
        shipped = {"weights": "best", "epoch": int(best["epoch"]), "checkpoint": checkpoint.best_model_path}
        print(f"shipping the best checkpoint (epoch {best['epoch']}, val/map {checkpoint.best_model_score})")
    elif ship == "best":
        print("no best checkpoint was saved (validation never ran): shipping the last weights")
    final = module.model.cpu().eval()
    metadata = WeightsMetadata(
        model=model_config,
        version=str(cfg.version or run_dir.name),
        training={
            "command": command,
            "data_root": str(root),
            "data_fingerprint": data_fingerprint(root),
            "train_images": len(train_set),
            "val_images": len(val_set),
            "epochs": trainer.current_epoch,
            "seconds": round(seconds, 1),
            "images_per_second": round(
                trainer.global_step * data.batch_size * trainer.world_size / max(seconds, 1e-9), 1
            ),
            "seed": cfg.seed,
            "precision": precision,  # as run: trainer.precision=auto differs by machine
            "config": OmegaConf.to_container(cfg, resolve=True),
            "chain": chain,
            "shipped": shipped,
        },
        metrics={"val_map_per_class_nms_best_epoch": float(checkpoint.best_model_score or 0.0)},
    )
    finalize(final, metadata, root, data, run_dir)
    weights_path = save_weights(final, metadata, run_dir / f"{model_config.name}.safetensors")
    print(f"weights written to {weights_path}")
    return weights_path


def finalize(
    model: torch.nn.Module, metadata: WeightsMetadata, root: Path, data: DictConfig, run_dir: Path
) -> None:
    """Choose the default score and containment thresholds on validation data, then evaluate on the test
    split (if any; ``data.test_split=null`` skips it) with the same Detector path the app uses, and record
    all in the metadata."""
    detector = Detector(TorchBackend(model, torch.device("cpu")), metadata)  # type: ignore[arg-type]
    val_samples = load_split(root, data.val_split).samples[: data.val_limit or None]
    metadata.score_threshold, metadata.containment_threshold = choose_thresholds(
        detector, val_samples, progress=True
    )
    print(
        f"chosen on {len(val_samples)} validation images: score threshold {metadata.score_threshold:.2f}, "
        f"containment threshold {metadata.containment_threshold}"
    )
    test_samples = load_split(root, data.test_split).samples if data.test_split else []
    if test_samples:
        report = evaluate(
            detector,
            test_samples,
            **split_breakdowns(root, data.test_split),
        )
        save_report(report, run_dir / "eval-test")
        metadata.metrics["test"] = report.to_dict()
        print("\n".join(report.summary_lines()))

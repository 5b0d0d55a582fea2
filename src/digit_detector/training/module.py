"""The Lightning module: YOLO loss in training, COCO mAP (not the loss) on validation."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from torchmetrics.detection import MeanAveragePrecision

from digit_detector.decode import decode, select
from digit_detector.models import ModelConfig, build_model
from digit_detector.training.dataset import DetectionBatch
from digit_detector.training.loss import YoloLoss

#: Builds the optimizer from parameter groups: a torch.optim class with its keyword arguments bound (the
#: ``build`` node of ``configs/optimizer`` instantiated with ``_partial_``).
OptimizerFactory = Callable[[list[dict[str, Any]]], torch.optim.Optimizer]


def default_optimizer(learning_rate: float = 2e-3, weight_decay: float = 5e-4) -> OptimizerFactory:
    """The optimizer of ``configs/optimizer/adamw.yaml``: AdamW."""
    return functools.partial(torch.optim.AdamW, lr=learning_rate, weight_decay=weight_decay)


def describe_factory(factory: OptimizerFactory) -> dict[str, Any]:
    """A partial's class and bound arguments (for the hyperparameters Lightning logs)."""
    if isinstance(factory, functools.partial):
        target = factory.func
        return {"_target_": f"{target.__module__}.{target.__qualname__}", **factory.keywords}
    return {"_target_": repr(factory)}


def one_cycle_factor(
    progress: float, warmup_fraction: float, start_div: float = 20.0, final_div: float = 1000.0
) -> float:
    """Learning-rate factor of a one-cycle schedule at ``progress`` (0..1): linear warm-up from
    1/start_div to 1, then cosine down to 1/final_div."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup_fraction:
        return 1 / start_div + (1 - 1 / start_div) * progress / warmup_fraction
    cosine = 0.5 * (1 + math.cos(math.pi * (progress - warmup_fraction) / max(1e-9, 1 - warmup_fraction)))
    return 1 / final_div + (1 - 1 / final_div) * cosine


def channels_last(images: torch.Tensor) -> torch.Tensor:
    """A batch in the memory layout training runs fastest in (see DetectorModule.on_fit_start)."""
    return images.contiguous(memory_format=torch.channels_last)


class DetectorModule(L.LightningModule):
    """``optimizer`` (default: :func:`default_optimizer`) and ``loss`` (default: ``YoloLoss`` with its
    defaults) are built by the caller, from the config groups in training; the loss must have the model's
    anchors and ``xy_scale``."""

    def __init__(
        self,
        model: ModelConfig,
        optimizer: OptimizerFactory | None = None,
        warmup_fraction: float = 0.03,
        loss: YoloLoss | None = None,
        val_iou_threshold: float = 0.45,
        time_budget_s: float | None = None,
    ) -> None:
        super().__init__()
        anchors = torch.tensor(model.anchors, dtype=torch.float32)
        if loss is None:
            loss = YoloLoss(anchors, xy_scale=model.xy_scale)
        elif not torch.equal(loss.anchors.cpu(), anchors) or loss.xy_scale != model.xy_scale:
            raise ValueError("the loss must be built with the model's anchors and xy_scale")
        self.optimizer_factory = optimizer or default_optimizer()
        self.save_hyperparameters(
            {
                "model": model.to_dict(),
                "optimizer": describe_factory(self.optimizer_factory),
                "warmup_fraction": warmup_fraction,
                "box_loss": loss.box_loss,
                "loss_weights": asdict(loss.weights),
                "ignore_threshold": loss.ignore_threshold,
                "positive_threshold": loss.positive_threshold,
                "objectness_iou": loss.objectness_iou,
                "val_iou_threshold": val_iou_threshold,
                "time_budget_s": time_budget_s,
            }
        )
        self.config = model
        self.model = build_model(model)
        self.anchors: torch.Tensor
        self.register_buffer("anchors", anchors)
        self.loss = loss
        self.warmup_fraction = warmup_fraction
        self.val_iou_threshold = val_iou_threshold
        self.time_budget_s = time_budget_s
        self.started_at: float | None = None
        self.val_map = MeanAveragePrecision(iou_type="bbox", box_format="xyxy", backend="pycocotools")

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        outputs: list[torch.Tensor] = self.model(images)
        return outputs

    def on_fit_start(self) -> None:
        # channels-last convolutions trained about 10 % faster on this CPU (oneDNN); CUDA AMP prefers it too
        self.model.to(memory_format=torch.channels_last)

    def on_fit_end(self) -> None:
        self.model.to(memory_format=torch.contiguous_format)  # inference and ONNX export use the plain layout

    def on_train_start(self) -> None:
        self.started_at = time.monotonic()

    def schedule_progress(self, step: int) -> float:
        """Where the run is in its schedule: by optimizer steps, or by wall time with a time budget (so a
        CPU run is fully annealed by its deadline however busy the machine is)."""
        if self.time_budget_s:
            return (time.monotonic() - (self.started_at or time.monotonic())) / self.time_budget_s
        return step / max(1, int(self.trainer.estimated_stepping_batches))

    def training_step(self, batch: DetectionBatch, batch_index: int) -> torch.Tensor:
        total, terms = self.loss(self.model(channels_last(batch.images)), batch.targets)
        size = batch.images.shape[0]
        self.log("train/loss", total, prog_bar=True, batch_size=size)
        self.log_dict({f"train/{name}": value for name, value in terms.items()}, batch_size=size)
        return total

    def validation_step(self, batch: DetectionBatch, batch_index: int) -> None:
        outputs = self.model(channels_last(batch.images))
        total, _ = self.loss(outputs, batch.targets)
        self.log("val/loss", total, batch_size=batch.images.shape[0])
        decoded = decode(outputs, self.anchors, self.config.input_size, self.config.xy_scale).float()
        found = select(decoded, 0.001, self.val_iou_threshold, class_agnostic=False)
        self.val_map.update(
            [{"boxes": f.boxes, "scores": f.scores, "labels": f.class_ids} for f in found],
            [{"boxes": b, "labels": c} for b, c in zip(batch.boxes, batch.class_ids, strict=True)],
        )

    def on_validation_epoch_end(self) -> None:
        result = self.val_map.compute()
        self.log("val/map50", result["map_50"], prog_bar=True)
        self.log("val/map", result["map"], prog_bar=True)
        self.val_map.reset()

    def configure_optimizers(self) -> Any:
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for name, parameter in self.model.named_parameters():
            (no_decay if parameter.ndim <= 1 or name.endswith(".bias") else decay).append(parameter)
        # the first group takes the optimizer's own weight decay, the second none
        optimizer = self.optimizer_factory([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: one_cycle_factor(self.schedule_progress(step), self.warmup_fraction)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

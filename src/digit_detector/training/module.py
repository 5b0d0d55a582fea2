"""The Lightning module: YOLO loss in training, COCO mAP (not the loss) on validation."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
from torchmetrics.detection import MeanAveragePrecision

from digit_detector.decode import decode, select
from digit_detector.models import ModelConfig, build_model
from digit_detector.training.dataset import DetectionBatch
from digit_detector.training.loss import LossWeights, YoloLoss


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
    def __init__(
        self,
        model: ModelConfig,
        learning_rate: float = 2e-3,
        weight_decay: float = 5e-4,
        warmup_fraction: float = 0.03,
        box_loss: str = "mse",
        loss_weights: dict[str, float] | None = None,
        val_iou_threshold: float = 0.45,
        time_budget_s: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "model": model.to_dict(),
                "learning_rate": learning_rate,
                "weight_decay": weight_decay,
                "warmup_fraction": warmup_fraction,
                "box_loss": box_loss,
                "loss_weights": loss_weights,
                "val_iou_threshold": val_iou_threshold,
                "time_budget_s": time_budget_s,
            }
        )
        self.config = model
        self.model = build_model(model)
        anchors = torch.tensor(model.anchors, dtype=torch.float32)
        self.anchors: torch.Tensor
        self.register_buffer("anchors", anchors)
        self.loss = YoloLoss(anchors, LossWeights(**(loss_weights or {})), box_loss, model.xy_scale)
        self.learning_rate, self.weight_decay, self.warmup_fraction = (
            learning_rate,
            weight_decay,
            warmup_fraction,
        )
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
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.learning_rate,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: one_cycle_factor(self.schedule_progress(step), self.warmup_fraction)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

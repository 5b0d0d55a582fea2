"""Train the style CVAE on digit crops on the CPU within a time budget: ``style train``.

Crops come from the training split (MNIST train part, the train handwriting and Hershey fonts, drawn like
the canvas; cached as .npz under ``data/style``); the validation split's crops give the held-out loss.
Adam with a cosine learning-rate decay over the budget (time or epochs), KL warm-up, seeded. At the end the
weights are written with their metadata and, unless ``--eval-n 0``, evaluated (``style eval``) on the test
split, the measured metrics going into the metadata too.

Its settings are plain dataclasses (``CVAEConfig``, ``TrainSettings``) set from command-line options, not
Hydra configs like the detector's: one small model with a dozen options and nothing to compose (no
interchangeable data sets, models, losses or optimizers).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from digit_detector.style.analogy import CRISP_LEVEL
from digit_detector.style.crops import CROP_SIZE, CropSet
from digit_detector.style.model import (
    NUM_DIGITS,
    CVAEConfig,
    StyleCVAE,
    loss_terms,
)


@dataclass(frozen=True)
class TrainSettings:
    """How long and how to train: a time budget (``minutes``) and/or an epoch cap, whichever ends first."""

    minutes: float = 15.0
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 2e-3
    beta: float = 1.0  # weight of the KL term once warmed up
    warmup: float = 0.15  # fraction of the budget over which the KL weight ramps from 0 to beta
    class_weight: float = 10.0  # analogies must look like their class to a critic trained on real crops
    cycle_weight: float = 1.0  # an analogy re-encoded with its class gives back the same style
    critic_sharpness: float = 0.0  # > 0: the critic sees analogies as the crisp ink will (critic_view)
    seed: int = 0
    threads: int = 1


@dataclass
class TrainResult:
    model: StyleCVAE
    seconds: float
    epochs: float
    steps: int
    history: list[dict[str, float]]


class DigitCritic(nn.Module):
    """A small digit classifier trained alongside the CVAE on real crops only (never saved with it)."""

    def __init__(self, size: int = CROP_SIZE) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * ((size + 7) // 8) ** 2, NUM_DIGITS),
        )

    def forward(self, ink: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(ink.unsqueeze(1) if ink.dim() == 3 else ink)
        return logits


def critic_view(analogy: torch.Tensor, sharpness: float) -> torch.Tensor:
    """What the critic judges: the decoded probabilities, or with ``sharpness > 0`` a soft threshold at
    the crisp rendering's ink level, ``sigmoid(sharpness * (p - CRISP_LEVEL))``. The crisp ink drops strokes
    decoded fainter than that level (a 9's tail, a 4's crossing); seen this way, a digit that relies on
    them is not its class to the critic, so the decoder learns to draw them firmly."""
    if sharpness <= 0:
        return analogy
    return torch.sigmoid(sharpness * (analogy - CRISP_LEVEL))


def analogy_losses(
    model: StyleCVAE,
    critic: DigitCritic,
    ink: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    critic_sharpness: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The CVAE terms plus the analogy terms, per image.

    ``reconstruction`` (Bernoulli, summed over pixels) and ``kl`` as in :func:`loss_terms`; ``critic``: the
    critic's cross-entropy on real crops (trains the critic only); ``class``: the critic's cross-entropy on
    each image decoded with its style and another class, seen through :func:`critic_view` (trains the
    CVAE only, the critic frozen);
    ``cycle``: squared distance between the style and that analogy's re-encoded style (summed over ``z``).
    """
    mu, logvar = model.encode(ink, labels)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    logits = model.decode_logits(z, labels)
    n = ink.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, ink, reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / n
    critic_loss = F.cross_entropy(critic(ink), labels)
    others = (labels + torch.randint(1, NUM_DIGITS, labels.shape, generator=generator)) % NUM_DIGITS
    analogy = torch.sigmoid(model.decode_logits(z, others))
    critic.requires_grad_(False)
    class_loss = F.cross_entropy(critic(critic_view(analogy, critic_sharpness)), others)
    critic.requires_grad_(True)
    mu_again, _ = model.encode(analogy, others)
    cycle = (mu_again - mu.detach()).pow(2).sum(1).mean()
    return {
        "reconstruction": reconstruction,
        "kl": kl,
        "critic": critic_loss,
        "class": class_loss,
        "cycle": cycle,
    }


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


@torch.no_grad()
def validation_loss(model: StyleCVAE, crops: CropSet, batch_size: int = 500) -> dict[str, float]:
    """Mean reconstruction and KL per image on ``crops`` (posterior sample, eval mode)."""
    model.eval()
    ink, labels = torch.from_numpy(crops.ink()), torch.from_numpy(crops.labels)
    totals = np.zeros(2)
    for start in range(0, len(labels), batch_size):
        rec, kl = loss_terms(model, ink[start : start + batch_size], labels[start : start + batch_size])
        totals += np.array([rec.item(), kl.item()]) * len(labels[start : start + batch_size])
    model.train()
    rec_mean, kl_mean = totals / max(len(labels), 1)
    return {"reconstruction": float(rec_mean), "kl": float(kl_mean), "loss": float(rec_mean + kl_mean)}


def train_model(
    train: CropSet,
    config: CVAEConfig | None = None,
    settings: TrainSettings | None = None,
    val: CropSet | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a fresh CVAE on ``train`` until the time budget or the epoch cap is spent."""
    from tqdm import tqdm

    settings = settings or TrainSettings()
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = StyleCVAE(config or CVAEConfig(size=train.images.shape[-1]))
    model.train()
    critic = DigitCritic(model.config.size)
    analogy_terms = settings.class_weight > 0 or settings.cycle_weight > 0
    parameters = list(model.parameters()) + (list(critic.parameters()) if analogy_terms else [])
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    ink, labels = torch.from_numpy(train.ink()), torch.from_numpy(train.labels)
    budget = settings.minutes * 60.0
    steps_per_epoch = max(1, len(labels) // settings.batch_size)
    max_steps = settings.epochs * steps_per_epoch if settings.epochs else None
    start = time.perf_counter()
    history: list[dict[str, float]] = []
    steps, epoch, done = 0, 0, False
    bar = tqdm(total=100, desc="style cvae", unit="%", disable=not progress, mininterval=2.0, bar_format=None)
    shown = 0
    while not done:
        epoch += 1
        rec_sum, kl_sum, class_sum, count = 0.0, 0.0, 0.0, 0
        for batch in _batches(len(labels), settings.batch_size, generator):
            elapsed = time.perf_counter() - start
            fraction = elapsed / budget if budget > 0 else 0.0
            if max_steps is not None:
                fraction = max(fraction, steps / max_steps) if budget > 0 else steps / max_steps
            if fraction >= 1.0:
                done = True
                break
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * 0.5 * (1.0 + math.cos(math.pi * fraction))
            beta = (
                settings.beta * min(1.0, fraction / settings.warmup) if settings.warmup > 0 else settings.beta
            )
            if analogy_terms:
                terms = analogy_losses(
                    model, critic, ink[batch], labels[batch], generator, settings.critic_sharpness
                )
                rec, kl = terms["reconstruction"], terms["kl"]
                class_sum += terms["class"].item()
                ramp = beta / settings.beta if settings.beta > 0 else 1.0  # analogy terms warm up with the KL
                loss = (
                    rec
                    + beta * kl
                    + terms["critic"]
                    + ramp * (settings.class_weight * terms["class"] + settings.cycle_weight * terms["cycle"])
                )
            else:
                rec, kl = loss_terms(model, ink[batch], labels[batch])
                loss = rec + beta * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            rec_sum, kl_sum, count = rec_sum + rec.item(), kl_sum + kl.item(), count + 1
            now = min(100, int(fraction * 100))
            if now > shown:
                bar.update(now - shown)
                shown = now
                bar.set_postfix(
                    epoch=epoch,
                    rec=f"{rec_sum / count:.1f}",
                    kl=f"{kl_sum / count:.1f}",
                    cls=f"{class_sum / count:.2f}",
                    refresh=False,
                )
        record: dict[str, float] = {
            "epoch": float(epoch),
            "steps": float(steps),
            "seconds": round(time.perf_counter() - start, 1),
            "train_reconstruction": rec_sum / max(count, 1),
            "train_kl": kl_sum / max(count, 1),
            "train_analogy_class": class_sum / max(count, 1),
        }
        if val is not None and count:
            record.update({f"val_{k}": v for k, v in validation_loss(model, val).items()})
        if count:
            history.append(record)
            if progress:
                tqdm.write(
                    "epoch {epoch:.0f}: train rec {rec:.2f} kl {kl:.2f} analogy class {cls:.3f}{val}".format(
                        epoch=record["epoch"],
                        rec=record["train_reconstruction"],
                        kl=record["train_kl"],
                        cls=record["train_analogy_class"],
                        val=f", val loss {record['val_loss']:.2f}" if "val_loss" in record else "",
                    )
                )
    bar.close()
    model.eval()
    seconds = time.perf_counter() - start
    return TrainResult(model, seconds, steps / steps_per_epoch, steps, history)

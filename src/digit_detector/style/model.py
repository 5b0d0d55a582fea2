"""The conditional VAE that separates a digit's class from its style (Sohn et al. 2015; Kingma et al. 2014).

Encoder ``q(z | x, y)`` and decoder ``p(x | z, y)`` both see the class ``y`` as a one-hot vector, so the
latent ``z`` is free to hold only what the class does not say: slant, stroke thickness, width, loops.
An analogy fixes ``z`` (encoded from the user's digit with its label) and decodes it with every class.

Weights on disk: ``weights/style-cvae.safetensors`` and its ``.json`` (architecture config, training
command and data, measured metrics), read and written with :mod:`digit_detector.weights`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from digit_detector.style.crops import CROP_SIZE
from digit_detector.weights import WEIGHTS_DIR, WeightsError, describe_mismatch, load_tensors, save_tensors

ARCHITECTURE = "style-cvae"
NUM_DIGITS = 10
DEFAULT_STYLE_WEIGHTS = WEIGHTS_DIR / "style-cvae.safetensors"
STYLE_WEIGHTS_ENV = "DIGIT_DETECTOR_STYLE_WEIGHTS"


@dataclass(frozen=True)
class CVAEConfig:
    """Shape of the CVAE: ``size`` x ``size`` crops, conv widths, hidden units and latent dimensions."""

    size: int = CROP_SIZE
    latent: int = 16
    channels: tuple[int, int, int] = (32, 64, 128)
    hidden: int = 256

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["channels"] = list(self.channels)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> CVAEConfig:
        channels = tuple(int(c) for c in record.get("channels", cls.channels))
        if len(channels) != 3:
            raise ValueError(f"channels must list 3 widths, got {channels}")
        return cls(
            size=int(record.get("size", CROP_SIZE)),
            latent=int(record.get("latent", cls.latent)),
            channels=(channels[0], channels[1], channels[2]),
            hidden=int(record.get("hidden", cls.hidden)),
        )


class StyleCVAE(nn.Module):
    """Conv encoder (3 stride-2 convs) and mirrored transposed-conv decoder, conditioned on the digit."""

    def __init__(self, config: CVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CVAEConfig()
        if config.size % 8:
            raise ValueError(f"crop size must be a multiple of 8, got {config.size}")
        c1, c2, c3 = config.channels
        self.feature_side = side = config.size // 8
        flat = c3 * side * side
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, 2, 1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c2, c3, 4, 2, 1),
            nn.BatchNorm2d(c3),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.encoder_head = nn.Sequential(
            nn.Linear(flat + NUM_DIGITS, config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden, 2 * config.latent),
        )
        self.decoder_head = nn.Sequential(
            nn.Linear(config.latent + NUM_DIGITS, config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden, flat),
            nn.LeakyReLU(0.2),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c3, c2, 4, 2, 1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),
            nn.BatchNorm2d(c1),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(c1, 1, 4, 2, 1),
        )

    @staticmethod
    def one_hot(labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels.long(), NUM_DIGITS).float()

    def encode(self, ink: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``q(z | x, y)`` for ink ``(N, S, S)`` or ``(N, 1, S, S)`` in 0..1."""
        if ink.dim() == 3:
            ink = ink.unsqueeze(1)
        features = self.encoder(ink)
        stats = self.encoder_head(torch.cat([features, self.one_hot(labels)], dim=1))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode_logits(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(N, S, S)`` of ``p(x | z, y)``."""
        hidden = self.decoder_head(torch.cat([z, self.one_hot(labels)], dim=1))
        side = self.feature_side
        maps = hidden.view(-1, self.config.channels[2], side, side)
        logits: torch.Tensor = self.decoder(maps)
        return logits.squeeze(1)

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Ink probabilities ``(N, S, S)`` in 0..1."""
        return torch.sigmoid(self.decode_logits(z, labels))

    def forward(
        self, ink: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, mu, logvar)`` with ``z`` drawn by the reparameterisation trick."""
        mu, logvar = self.encode(ink, labels)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode_logits(z, labels), mu, logvar

    @torch.no_grad()
    def analogies(
        self,
        ink: torch.Tensor,
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
        sample: bool = False,
        strength: float = 1.0,
    ) -> torch.Tensor:
        """All ten digits in the style of each input: ``(N, 10, S, S)`` ink probabilities.

        The style is the posterior mean, or with ``sample`` a draw from ``q(z | x, y)`` (``generator``
        makes it repeatable), scaled by ``strength`` towards the prior's centre (see :func:`style_strength`).
        """
        mu, logvar = self.encode(ink, labels)
        z = mu
        if sample:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + noise * torch.exp(0.5 * logvar)
        return self.render_styles(z * strength)

    @torch.no_grad()
    def render_styles(self, z: torch.Tensor) -> torch.Tensor:
        """Decode each style ``z`` ``(N, latent)`` with each of the ten classes: ``(N, 10, S, S)``."""
        n = z.shape[0]
        classes = torch.arange(NUM_DIGITS, device=z.device).repeat(n)
        images = self.decode(z.repeat_interleave(NUM_DIGITS, dim=0), classes)
        return images.view(n, NUM_DIGITS, self.config.size, self.config.size)


def loss_terms(
    model: StyleCVAE, ink: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image means of the Bernoulli reconstruction loss (summed over pixels) and KL(q || N(0, I))."""
    logits, mu, logvar = model(ink, labels)
    reconstruction = F.binary_cross_entropy_with_logits(logits, ink, reduction="sum") / ink.shape[0]
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / ink.shape[0]
    return reconstruction, kl


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------ weights


def default_style_weights_path() -> Path:
    """``$DIGIT_DETECTOR_STYLE_WEIGHTS``, else the shipped ``weights/style-cvae.safetensors``."""
    return Path(os.environ.get(STYLE_WEIGHTS_ENV) or DEFAULT_STYLE_WEIGHTS)


def style_strength(record: dict[str, Any]) -> float:
    """The default style strength of a weights record (1.0 when it has none).

    The style latent is scaled by it before decoding: 1.0 copies the input's style fully, 0 draws the
    average hand. Unusual inputs copied fully can give digits that are hard to read, so the shipped value
    is chosen on validation digits (``style eval --choose-strength``) as the strongest that keeps the
    detector's reading of the analogies at the goal.
    """
    return float(record.get("style_strength", 1.0))


def save_style_model(model: StyleCVAE, record: dict[str, Any], path: Path) -> Path:
    """Weights + ``.json`` record; ``record`` gets ``architecture`` and ``config`` filled in."""
    full = {"architecture": ARCHITECTURE, "config": model.config.to_dict(), **record}
    full["architecture"], full["config"] = ARCHITECTURE, model.config.to_dict()
    return save_tensors(model.state_dict(), full, path, ARCHITECTURE)


def load_style_model(path: Path | str | None = None) -> tuple[StyleCVAE, dict[str, Any]]:
    """The CVAE (eval mode, CPU) and its metadata record; clear WeightsError when unusable."""
    path = Path(path) if path is not None else default_style_weights_path()
    state, record = load_tensors(path)
    if record.get("architecture") != ARCHITECTURE:
        raise WeightsError(
            f"{path} holds a {record.get('architecture', 'unknown')!r} model, not the {ARCHITECTURE} style "
            "model: pass the style weights (weights/style-cvae.safetensors)."
        )
    try:
        config = CVAEConfig.from_dict(dict(record.get("config", {})))
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{path}'s metadata has an invalid config ({error}).") from error
    model = StyleCVAE(config)
    mismatch = describe_mismatch(model, state)
    if mismatch is not None:
        raise WeightsError(f"{path} does not match its {ARCHITECTURE} config: {mismatch}.")
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, record

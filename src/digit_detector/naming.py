"""The second stage: a crop classifier names each object the detector found.

The detector's job is *where* (boxes and objectness); naming a box is left to a small CNN that sees only
that box, cut square out of the same ``pixel/255`` input tensor the detector saw (``roi_align``'s sampling,
:mod:`digit_detector.crops`, so a box of any size becomes a ``CROP_SIZE`` crop and a large digit is as easy
as a small one). Training, evaluation,
the CLI, the app and the ONNX export all cut crops with :func:`classifier_input` from :func:`input_ink`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from digit_detector.crops import square_crops_of
from digit_detector.weights import WeightsError, describe_mismatch, load_tensors

CROP_SIZE = 28
CROP_MARGIN = 0.12  # of the box's longer side, on each side: the crop sees the whole stroke ends
MIN_WINDOW = 1.5  # crop pixels: a thin box's window spans the one or two pixels at its centre (box_window)
MIN_CROP_PEAK = 0.1  # a crop fainter than this is not made darker (a crop of paper stays paper)


@dataclass(frozen=True)
class NamerConfig:
    """The crop classifier's shape (stored in its weights' metadata)."""

    num_classes: int = 12
    widths: tuple[int, int, int] = (32, 64, 128)
    crop_size: int = CROP_SIZE
    margin: float = CROP_MARGIN
    dropout: float = 0.3
    # a second input channel marks where the box lies in its square crop (1 inside, 0 outside), so the
    # classifier knows which ink is the box's and which a neighbour's (a `1` in a number: its square crop
    # holds both neighbours)
    box_channel: bool = False
    # one output more than the classes: "not one whole object" (a part of a digit, a box over two),
    # learnt from the detector's own false boxes; the detector takes it off the box's objectness
    rejects: bool = False
    # a last input channel: the ink around the box, cut square with this margin (of the box's longer side,
    # on each side, as ``margin``), so the classifier sees what lies beside its box (the letters of the
    # word a letter belongs to, the rest of a digit beside a part of it); None: no such channel
    context_margin: float | None = None
    # a last input channel marks which crop pixels lie on the image (1) and which beyond its edge (0), so the
    # classifier can tell a digit the canvas edge cuts from one that ends on paper (package 4.27.0)
    edge_channel: bool = False

    @property
    def in_channels(self) -> int:
        return len(self.input_channels)

    @property
    def input_channels(self) -> tuple[str, ...]:
        """What each input channel holds, in order: ``ink``, then ``box``, ``context`` and ``edge`` when
        present."""
        return (
            ("ink",)
            + (("box",) if self.box_channel else ())
            + (("context",) if self.context_margin else ())
            + (("edge",) if self.edge_channel else ())
        )

    @property
    def outputs(self) -> int:
        return self.num_classes + int(self.rejects)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> NamerConfig:
        values = dict(record)
        values["widths"] = tuple(int(w) for w in values.get("widths", cls.widths))
        return cls(**values)


def square_regions(boxes: torch.Tensor, margin: float = CROP_MARGIN) -> torch.Tensor:
    """Boxes ``(K, 4)`` xyxy -> squares around their centres, side = longer side * (1 + 2 * margin).

    Square, so a thin ``1`` keeps its shape instead of being stretched into a blob.
    """
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).amax(dim=1, keepdim=True).clamp(min=1.0) * (1 + 2 * margin)
    return torch.cat((centre - side / 2, centre + side / 2), dim=1)


def input_ink(images: torch.Tensor) -> torch.Tensor:
    """The ink ``(N, 1, S, S)`` (0 = paper, 1 = black) of detector inputs ``(N, 3, S, S)`` (``pixel/255``):
    one minus the channels' mean, summed plane by plane (the same values as ``mean(dim=1)``; onnxruntime runs
    the sum in under half the time of its ``ReduceMean`` across channels)."""
    return 1.0 - (images[:, 0:1] + images[:, 1:2] + images[:, 2:3]) / 3.0


def _square_crops(
    plane: torch.Tensor, boxes: torch.Tensor, image_index: torch.Tensor, size: int, margin: float
) -> torch.Tensor:
    """``(K, 1, size, size)`` samples of ``plane`` ``(N, 1, H, W)`` over the square regions around
    ``boxes`` (:func:`square_regions`), zero outside it (``roi_align`` with adaptive sampling, computed as
    :func:`~digit_detector.crops.square_crops_of` does)."""
    return square_crops_of(plane, square_regions(boxes.to(plane), margin), image_index, size)


def crop_ink(
    ink: torch.Tensor,
    boxes: torch.Tensor,
    image_index: torch.Tensor,
    size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
) -> torch.Tensor:
    """Crops ``(K, 1, size, size)`` of the square regions around ``boxes`` in ``ink`` ``(N, 1, H, W)``
    (0 = paper, 1 = black). Outside the image counts as paper. Each crop's darkest pixel is made black
    (divided by its peak, at least :data:`MIN_CROP_PEAK`): a crop pixel averages many input pixels
    (``roi_align``, adaptive sampling), so a thin stroke in a large box came out faint grey (a straight `1`,
    350 px tall, drawn with the 3 px pen: 0.2). Pure tensor code, so it exports to ONNX."""
    crops = _square_crops(ink, boxes, image_index, size, margin)
    return crops / crops.amax(dim=(1, 2, 3), keepdim=True).clamp(min=MIN_CROP_PEAK)


def image_window(
    ink: torch.Tensor,
    boxes: torch.Tensor,
    image_index: torch.Tensor,
    size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
) -> torch.Tensor:
    """Which pixels of each crop :func:`crop_ink` cuts lie on the image ``ink`` ``(N, 1, H, W)``:
    ``(K, 1, size, size)``, 1 on it, 0 beyond its edge (a pixel the edge crosses in between). Beyond the
    edge :func:`crop_ink` shows paper; this tells the two apart. Pure tensor code (exports to ONNX)."""
    return _square_crops(torch.ones_like(ink), boxes, image_index, size, margin)


def box_window(
    boxes: torch.Tensor, size: int = CROP_SIZE, margin: float = CROP_MARGIN, grow: float = 0.0
) -> torch.Tensor:
    """Where each box ``(K, 4)`` lies in its square crop (see :func:`crop_ink`): ``(K, 1, size, size)``,
    1 at the crop pixels whose centre is inside the box (grown by ``grow`` of its width and height on each
    side), 0 elsewhere. Pure tensor code (exports to ONNX)."""
    region = square_regions(boxes, margin)
    side = (region[:, 2:3] - region[:, 0:1]).clamp(min=1e-6)
    extent = grow * (boxes[:, 2:] - boxes[:, :2])
    low = (boxes[:, :2] - extent - region[:, :2]) / side * size  # (K, 2) in crop pixels
    high = (boxes[:, 2:] + extent - region[:, :2]) / side * size
    # at least a pixel wide and tall: a thin box (a straight 1, 300 px tall) covers no pixel centre else
    centre, half = (low + high) / 2, ((high - low) / 2).clamp(min=MIN_WINDOW / 2)
    low, high = centre - half, centre + half
    centres = torch.arange(size, dtype=boxes.dtype, device=boxes.device) + 0.5
    in_x = (centres >= low[:, :1]) & (centres <= high[:, :1])  # (K, size)
    in_y = (centres >= low[:, 1:]) & (centres <= high[:, 1:])
    return (in_y[:, :, None] & in_x[:, None, :]).unsqueeze(1).to(boxes.dtype)


def classifier_input(
    ink: torch.Tensor, boxes: torch.Tensor, image_index: torch.Tensor, config: NamerConfig
) -> torch.Tensor:
    """What a classifier of ``config`` sees of ``boxes``: their ink crops (:func:`crop_ink`), with the
    :func:`box_window` channel, the wider context crop and the :func:`image_window` channel when the config
    has them (in the order of :attr:`NamerConfig.input_channels`). Training and inference both cut them
    here."""
    crops = crop_ink(ink, boxes, image_index, config.crop_size, config.margin)
    channels = [crops]
    if config.box_channel:
        channels.append(box_window(boxes.to(crops), config.crop_size, config.margin))
    if config.context_margin:
        channels.append(crop_ink(ink, boxes, image_index, config.crop_size, config.context_margin))
    if config.edge_channel:
        channels.append(image_window(ink, boxes, image_index, config.crop_size, config.margin))
    return crops if len(channels) == 1 else torch.cat(channels, dim=1)


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class CropClassifier(nn.Module):
    """Three conv blocks (two 3x3 convs with batch norm each, then 2x2 max-pool), global average pool,
    dropout and a linear layer: crops ``(K, 1 or 2, s, s)`` (see :func:`classifier_input`) -> logits
    ``(K, C)``, or ``(K, C + 1)`` when the config ``rejects`` (the last: not one whole object)."""

    def __init__(self, config: NamerConfig | None = None) -> None:
        super().__init__()
        self.config = config or NamerConfig()
        first, second, third = self.config.widths
        self.features = nn.Sequential(
            _block(self.config.in_channels, first), _block(first, second), _block(second, third)
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(self.config.dropout),
            nn.Linear(third, self.config.outputs),
        )

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(crops))

    def box_probabilities(
        self, ink: torch.Tensor, boxes: torch.Tensor, image_index: torch.Tensor
    ) -> torch.Tensor:
        """Probabilities ``(K, C)`` (``(K, C + 1)`` with the reject output) of ``boxes`` in ``ink``
        ``(N, 1, H, W)``, cut as its config says; float32 whatever dtype the classifier runs in (the crops
        are cut in float32 and given it in its own)."""
        crops = classifier_input(ink, boxes, image_index, self.config)
        dtype = cast(nn.Linear, self.head[-1]).weight.dtype
        # casts only where the dtypes differ, so the float32 ONNX export records none
        logits = self(crops if crops.dtype == dtype else crops.to(dtype))
        return (logits if logits.dtype == torch.float32 else logits.float()).softmax(dim=-1)


class NamerEnsemble(nn.Module):
    """Several crop classifiers, each cutting its own crops, whose probabilities are averaged: classifiers
    trained apart err apart, so the average names more boxes right than either (docs/experiments.md)."""

    def __init__(self, members: Sequence[CropClassifier]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs two classifiers or more")
        if len({(member.config.num_classes, member.config.rejects) for member in members}) != 1:
            raise ValueError(
                "the classifiers of an ensemble must name the same classes (and all reject or none)"
            )
        self.members = nn.ModuleList(members)

    @property
    def classifiers(self) -> list[CropClassifier]:
        return [cast(CropClassifier, member) for member in self.members]

    def box_probabilities(
        self, ink: torch.Tensor, boxes: torch.Tensor, image_index: torch.Tensor
    ) -> torch.Tensor:
        """The members' class probabilities of ``boxes``, averaged."""
        probabilities = [member.box_probabilities(ink, boxes, image_index) for member in self.classifiers]
        return torch.stack(probabilities).mean(dim=0)


Namer = CropClassifier | NamerEnsemble


def classifiers_of(namer: Namer) -> list[CropClassifier]:
    """The crop classifiers ``namer`` is made of (itself, or an ensemble's members)."""
    return namer.classifiers if isinstance(namer, NamerEnsemble) else [namer]


class BoxNamer(nn.Module):
    """Crops and classifier (or ensemble) in one module: ``images (N, 3, S, S)``, ``boxes (K, 4)``,
    ``image_index (K,)`` -> probabilities ``(K, C)`` or ``(K, C + 1)`` (see :class:`CropClassifier`). What
    the Detector runs and what is exported to ONNX."""

    def __init__(self, namer: Namer) -> None:
        super().__init__()
        self.namer = namer

    def forward(self, images: torch.Tensor, boxes: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        return self.namer.box_probabilities(input_ink(images), boxes, image_index)


def namer_config_record(namer: Namer) -> dict[str, Any]:
    """The record entries that describe ``namer``'s shape: ``config``, or ``members`` for an ensemble."""
    if isinstance(namer, NamerEnsemble):
        return {"members": [member.config.to_dict() for member in namer.classifiers]}
    return {"config": namer.config.to_dict()}


REJECT_START_BIAS = -4.0  # a new reject output's first bias: it starts out rarely saying "not an object"


def widened(
    classifier: CropClassifier,
    *,
    box_channel: bool = False,
    rejects: bool = False,
    context_margin: float | None = None,
    edge_channel: bool = False,
) -> CropClassifier:
    """A copy of ``classifier`` that also takes the :func:`box_window` channel and/or the context channel
    (``context_margin``, see :class:`NamerConfig`) and/or the :func:`image_window` channel
    (``edge_channel``) and/or gives the reject output, for fine-tuning. The new
    weights are zero (the reject output's bias :data:`REJECT_START_BIAS`), so it names every box as
    ``classifier`` does until it is fine-tuned."""
    config = classifier.config
    if (
        (box_channel and config.box_channel)
        or (rejects and config.rejects)
        or (context_margin and config.context_margin)
        or (edge_channel and config.edge_channel)
    ):
        raise ValueError("the classifier already has that input or output")
    grown = CropClassifier(
        replace(
            config,
            box_channel=config.box_channel or box_channel,
            rejects=config.rejects or rejects,
            context_margin=config.context_margin or context_margin,
            edge_channel=config.edge_channel or edge_channel,
        )
    )
    state = dict(classifier.state_dict())
    first = "features.0.0.weight"  # the first convolution's inputs, mapped by what each channel holds
    old_first = state[first]
    new_first = old_first.new_zeros((old_first.shape[0], grown.config.in_channels, *old_first.shape[2:]))
    for position, channel in enumerate(config.input_channels):
        new_first[:, grown.config.input_channels.index(channel)] = old_first[:, position]
    state[first] = new_first
    if rejects:
        weight, bias = "head.3.weight", "head.3.bias"
        state[weight] = torch.cat((state[weight], torch.zeros_like(state[weight][:1])))
        state[bias] = torch.cat((state[bias], torch.full_like(state[bias][:1], REJECT_START_BIAS)))
    grown.load_state_dict(state)
    return grown.eval()


def narrowed(classifier: CropClassifier, widths: tuple[int, int, int]) -> CropClassifier:
    """A copy of ``classifier`` with fewer channels per block (``widths``, none wider than the
    classifier's): each convolution keeps the output channels whose batch norm scales them most (network
    slimming, Liu et al. 2017), and the layer after it the matching inputs. A start for a smaller, faster
    namer: it names boxes worse until it is fine-tuned (best with ``distill`` towards ``classifier``)."""
    config = classifier.config
    if any(new > old or new < 1 for new, old in zip(widths, config.widths, strict=True)):
        raise ValueError(
            f"widths {list(widths)} must lie between 1 and the classifier's {list(config.widths)}"
        )
    small = CropClassifier(replace(config, widths=widths))
    state = dict(classifier.state_dict())  # indexing below copies what it keeps
    kept_inputs: torch.Tensor | None = None  # the channels the previous layer kept
    for block, width in enumerate(widths):
        for conv, norm in ((0, 1), (3, 4)):
            weight = f"features.{block}.{conv}.weight"
            if kept_inputs is not None:
                state[weight] = state[weight][:, kept_inputs]
            scale = state[f"features.{block}.{norm}.weight"].abs()
            kept = torch.topk(scale, width).indices.sort().values
            state[weight] = state[weight][kept]
            for part in ("weight", "bias", "running_mean", "running_var"):
                key = f"features.{block}.{norm}.{part}"
                state[key] = state[key][kept]
            kept_inputs = kept
    state["head.3.weight"] = state["head.3.weight"][:, kept_inputs]
    small.load_state_dict(state)
    return small.eval()


def broadened(classifier: CropClassifier, widths: tuple[int, int, int], seed: int = 0) -> CropClassifier:
    """A copy of ``classifier`` with more channels per block (``widths``, none narrower than the
    classifier's) that names every box as it does (Net2WiderNet, Chen et al. 2016): each new channel
    copies a random old one of its convolution, with its batch norm, and the layer after it splits that
    channel's input weights between the copies in random shares that sum to one. Equal shares would give
    the copies equal gradients, so they would stay copies; unequal ones (and noise of 1 % of the layer's
    spread on the copies' weights) let fine-tuning pull them apart. The answers stay within about that
    noise of the start's. A start for a wider namer (where bfloat16 makes one affordable), best
    fine-tuned with ``distill``."""
    config = classifier.config
    if any(new < old for new, old in zip(widths, config.widths, strict=True)):
        raise ValueError(f"widths {list(widths)} must be at least the classifier's {list(config.widths)}")
    generator = torch.Generator().manual_seed(seed)
    wide = CropClassifier(replace(config, widths=widths))
    state = dict(classifier.state_dict())
    sources: torch.Tensor | None = None  # the old channel each input channel of this layer copies
    for block, width in enumerate(widths):
        for conv, norm in ((0, 1), (3, 4)):
            weight = f"features.{block}.{conv}.weight"
            if sources is not None:
                state[weight] = _shared_inputs(state[weight], sources, generator)
            old = state[weight].shape[0]
            extra = torch.randint(0, old, (width - old,), generator=generator)
            chosen = torch.cat((torch.arange(old), extra))
            copies = state[weight][extra]
            noise = torch.randn(copies.shape, generator=generator) * state[weight].std() * 0.01
            state[weight] = torch.cat((state[weight], copies + noise))
            for part in ("weight", "bias", "running_mean", "running_var"):
                key = f"features.{block}.{norm}.{part}"
                state[key] = state[key][chosen]
            sources = chosen
    assert sources is not None
    state["head.3.weight"] = _shared_inputs(state["head.3.weight"], sources, generator)
    wide.load_state_dict(state)
    return wide.eval()


def _shared_inputs(weight: torch.Tensor, sources: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``weight`` ``(out, in, ...)`` for inputs copied from ``sources`` (the old input each new one copies):
    the copies of an old input share its weights in random shares (0.25-1, normalised) that sum to one, so
    the layer's output is kept."""
    draws = torch.rand(len(sources), generator=generator, dtype=weight.dtype) * 0.75 + 0.25
    totals = torch.zeros(weight.shape[1], dtype=weight.dtype).index_add_(0, sources, draws)
    shares = draws / totals[sources]
    return weight[:, sources] * shares.reshape(1, -1, *([1] * (weight.dim() - 2)))


def load_namer(path: Path | str) -> tuple[Namer, dict[str, Any]]:
    """The crop classifier (or ensemble of them) in ``path`` (.safetensors + .json record), loaded strictly,
    in eval mode."""
    tensors, record = load_tensors(path)
    try:
        configs = [NamerConfig.from_dict(entry) for entry in record.get("members") or [record["config"]]]
    except (KeyError, TypeError, ValueError) as error:
        raise WeightsError(f"{path} has no valid crop-classifier config in its record ({error}).") from error
    classifiers = [CropClassifier(config) for config in configs]
    try:
        model: Namer = NamerEnsemble(classifiers) if "members" in record else classifiers[0]
    except ValueError as error:
        raise WeightsError(f"{path}: {error}.") from error
    mismatch = describe_mismatch(model, tensors)
    if mismatch is not None:
        raise WeightsError(f"{path} does not match its crop-classifier config: {mismatch}.")
    model.load_state_dict(tensors, strict=True)
    return model.eval(), record

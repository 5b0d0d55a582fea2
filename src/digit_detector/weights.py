"""Weights on disk: safetensors + a JSON metadata record, and the original PyTorch checkpoint.

``NAME.safetensors`` holds the tensors; ``NAME.json`` beside it says what they are (architecture,
width, anchors, class names, input size, normalisation, default thresholds, training data
fingerprint, metrics and the command that produced them). A plain PyTorch ``state_dict`` file
(``.pt``/``.pth``, e.g. the original 247 MB checkpoint) is read with ``weights_only=True`` only:
never an unrestricted pickle load.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_detector.bundled import (  # WEIGHTS_ENV, default_weights_path: here too, torch-free there
    DEFAULT_WEIGHTS_NAME,
    WEIGHTS_ENV,  # noqa: F401 (re-exported)
    bundled_dir,
    default_weights_path,
)
from digit_detector.classes import CLASS_NAMES
from digit_detector.containment import KeepRule
from digit_detector.models import UnknownModelError, available_models, build_model, load_model_config
from digit_detector.models.config import ModelConfig
from digit_detector.second_stage import LoneLooks

if TYPE_CHECKING:  # torch and safetensors are imported where tensors are read or written: the metadata,
    import torch  # check_readable and the paths serve the onnxruntime backend without them

    from digit_detector.models import YoloModel

FORMAT_VERSION = 1
WEIGHTS_DIR = bundled_dir("weights")  # the shipped weights: package data, or weights/ in a source checkout
DEFAULT_WEIGHTS = WEIGHTS_DIR / DEFAULT_WEIGHTS_NAME
DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_IOU_THRESHOLD = 0.45
LFS_POINTER_PREFIX = b"version https://git-lfs"
NORMALIZATION = "pixel/255"


class WeightsError(RuntimeError):
    """Weights that cannot be used; the message is one sentence saying why and what to do."""


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _lone_looks(value: Any) -> LoneLooks:
    """A record's ``lone_looks``: ``{"scales": [...], "degrees": [...]}`` (ValueError saying so otherwise)."""
    try:
        return LoneLooks.from_dict(value)
    except (KeyError, TypeError, AttributeError):
        expected = "{'scales': [...], 'degrees': [...]}"
        raise ValueError(f"lone_looks must be {expected}, got {value!r:.80}") from None


def _class_names(value: Any) -> tuple[str, ...]:
    """A record's class names: a JSON list (a string would pass as a list of its letters)."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"class_names must be a list of non-empty strings, got {value!r:.80}")
    return tuple(value)


@dataclass
class WeightsMetadata:
    """What a weights file is: enough to rebuild the model and use it exactly as trained."""

    model: ModelConfig
    class_names: tuple[str, ...] = CLASS_NAMES
    normalization: str = NORMALIZATION
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    # drop detections lying more than this fraction inside a larger one (None: off); chosen on validation data
    containment_threshold: float | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str = "untrained"
    # the second stage's weights file (beside these weights) that names every box; with it, the score
    # threshold applies to objectness ("is something drawn here") and names come from the crop classifier
    namer: str | None = None
    # class name -> log-prior added to the second stage's class probabilities before naming (chosen on
    # validation data; e.g. {"other": 0.5} makes `other` win more of the boxes it shares with a digit)
    namer_log_bias: dict[str, float] = field(default_factory=dict)
    # a second opinion on the boxes the containment rule drops (digit_detector.containment), fitted to these
    # weights' scores on training canvases; None: every box the rule drops goes
    containment_keep: KeepRule | None = None
    # a lone box named `other` is named its runner-up digit when the namer gives that digit at least this
    # probability (second_stage.lone_other_as_digit; chosen on validation); None: never
    lone_digit_min_probability: float | None = None
    # a canvas on which nothing reaches the score threshold shows its most likely box when that box's
    # objectness is at least this (Detector.best_guess): every clear drawing gets an answer; None: never
    best_guess_min_objectness: float | None = None
    # a canvas's lone box is named from crops of it scaled and turned (second_stage.LoneLooks, set by
    # `namer lone-looks`); None: from its one crop, as every box
    lone_looks: LoneLooks | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "model": self.model.to_dict(),
            "class_names": list(self.class_names),
            "input": {"size": self.model.input_size, "channels": "RGB", "normalization": self.normalization},
            "score_threshold": self.score_threshold,
            "iou_threshold": self.iou_threshold,
            "containment_threshold": self.containment_threshold,
            "namer": self.namer,
            "namer_log_bias": self.namer_log_bias,
            "containment_keep": None if self.containment_keep is None else self.containment_keep.to_dict(),
            "lone_digit_min_probability": self.lone_digit_min_probability,
            "best_guess_min_objectness": self.best_guess_min_objectness,
            "lone_looks": None if self.lone_looks is None else self.lone_looks.to_dict(),
            "training": self.training,
            "metrics": self.metrics,
        }

    def __post_init__(self) -> None:
        """ValueError for class names that do not fit the model or a threshold that is not from 0 to 1."""
        names = self.class_names
        if isinstance(names, str) or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"class_names must be a list of non-empty strings, got {names!r:.80}")
        if len(names) != self.model.num_classes:
            raise ValueError(
                f"{len(names)} class names for a model of {self.model.num_classes} classes: "
                "the record needs one name per class"
            )
        for name in (
            "score_threshold",
            "iou_threshold",
            "containment_threshold",
            "lone_digit_min_probability",
            "best_guess_min_objectness",
        ):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
        unknown = sorted(set(self.namer_log_bias) - set(self.class_names))
        if unknown:
            raise WeightsError(f"namer_log_bias names classes these weights do not have: {unknown}")

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> WeightsMetadata:
        return cls(
            model=ModelConfig.from_dict(record["model"]),
            class_names=_class_names(record.get("class_names", CLASS_NAMES)),
            normalization=record.get("input", {}).get("normalization", NORMALIZATION),
            score_threshold=float(record.get("score_threshold", DEFAULT_SCORE_THRESHOLD)),
            iou_threshold=float(record.get("iou_threshold", DEFAULT_IOU_THRESHOLD)),
            containment_threshold=_optional_float(record.get("containment_threshold")),
            training=dict(record.get("training", {})),
            metrics=dict(record.get("metrics", {})),
            version=str(record.get("version", "untrained")),
            namer=None if record.get("namer") is None else str(record["namer"]),
            namer_log_bias={str(k): float(v) for k, v in dict(record.get("namer_log_bias") or {}).items()},
            containment_keep=(
                None
                if record.get("containment_keep") is None
                else KeepRule.from_dict(record["containment_keep"])
            ),
            lone_digit_min_probability=_optional_float(record.get("lone_digit_min_probability")),
            best_guess_min_objectness=_optional_float(record.get("best_guess_min_objectness")),
            lone_looks=None if record.get("lone_looks") is None else _lone_looks(record["lone_looks"]),
        )


def metadata_path(weights_path: Path) -> Path:
    return Path(weights_path).with_suffix(".json")


JSON_WIDTH = 110  # characters: what a record's line may take before it is wrapped


def record_json(data: Any, indent: int = 0) -> str:
    """Indented JSON for people to read: an object or list of plain values that fits on one line stays
    on one line, and a longer list of plain values is wrapped several to a line (a weights record's rule
    weights, a report's curves), not one per line."""
    one_line = json.dumps(data)
    values = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    flat = all(not isinstance(value, dict | list) for value in values)
    if not isinstance(data, dict | list) or (flat and len(one_line) + indent <= JSON_WIDTH):
        return one_line
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(data, dict):
        items = [f"{inner}{json.dumps(k)}: {record_json(v, indent + 2)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if not flat:
        return "[\n" + ",\n".join(f"{inner}{record_json(v, indent + 2)}" for v in data) + f"\n{pad}]"
    lines = [""]
    for item in (json.dumps(value) for value in data):
        if lines[-1] and len(inner) + len(lines[-1]) + len(item) + 3 > JSON_WIDTH:
            lines.append("")
        lines[-1] = f"{lines[-1]}, {item}" if lines[-1] else item
    return "[\n" + ",\n".join(inner + line for line in lines) + f"\n{pad}]"


def write_record(weights_path: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as the ``.json`` metadata beside ``weights_path`` (:func:`record_json`)."""
    path = metadata_path(weights_path)
    path.write_text(record_json(record) + "\n")
    return path


def record_report(weights_path: Path, split: str, report: dict[str, Any], command: str) -> Path:
    """Put ``report`` into the weights' own record as ``metrics[split]`` (the model card and the About page
    read ``metrics.test``) and ``command``, the evaluation that made it, at the end of its chain of
    commands; the tensors stay as they are. Returns the record's path."""
    path = metadata_path(weights_path)
    record = json.loads(path.read_text())
    record.setdefault("metrics", {})[split] = report
    training = record.setdefault("training", {})
    training["chain"] = [*training.get("chain", []), {"stage": "eval", "command": command}]
    return write_record(weights_path, record)


def save_weights(model: YoloModel, metadata: WeightsMetadata, path: Path) -> Path:
    """Write ``path`` (.safetensors) and its ``.json`` metadata record; returns the weights path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": "pt", "architecture": metadata.model.name})
    write_record(path, metadata.to_dict())
    return path


def check_readable(path: Path) -> None:
    """Raise WeightsError when ``path`` is missing or a Git LFS pointer instead of the real file."""
    if not path.is_file():
        raise WeightsError(f"No weights file at {path}: pass --weights FILE or train a model first.")
    with path.open("rb") as handle:
        head = handle.read(len(LFS_POINTER_PREFIX))
    if head == LFS_POINTER_PREFIX:
        raise WeightsError(
            f"{path} is a Git LFS pointer, not the weights: run `git lfs pull` to download the real file."
        )


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, EOFError, OSError, ValueError) as error:
        size = path.stat().st_size
        raise WeightsError(
            f"{path} ({size:,} bytes) is truncated or corrupt and cannot be read ({type(error).__name__}): "
            "download or export it again."
        ) from error
    except Exception as error:  # weights_only refuses arbitrary pickles with an UnpicklingError
        raise WeightsError(
            f"{path} is not a plain PyTorch state_dict that can be loaded safely ({type(error).__name__}); "
            "only tensors are accepted."
        ) from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state_dict of tensors.")
    return state


def save_tensors(
    tensors: dict[str, torch.Tensor], record: dict[str, Any], path: Path, architecture: str
) -> Path:
    """Write any model's tensors to ``path`` (.safetensors) and ``record`` as its ``.json`` beside it.

    The generic form of :func:`save_weights`, for models other than the detector (e.g. the style CVAE).
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    save_file(contiguous, str(path), metadata={"format": "pt", "architecture": architecture})
    write_record(path, record)
    return path


def load_tensors(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors of a ``.safetensors`` file and its ``.json`` record, with the same clear errors as
    :func:`load_weights` (missing, Git LFS pointer, truncated or corrupt, no or invalid metadata)."""
    path = Path(path)
    check_readable(path)
    record_path = metadata_path(path)
    if not record_path.is_file():
        raise WeightsError(f"{path} has no metadata record: {record_path.name} must lie beside it.")
    try:
        record = json.loads(record_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightsError(f"{record_path} is not a valid weights metadata record ({error}).") from error
    if not isinstance(record, dict):
        raise WeightsError(f"{record_path} is not a valid weights metadata record (not a JSON object).")
    return _read_tensors(path), record


def read_metadata(path: Path, arch: str | None = None) -> WeightsMetadata:
    """The metadata for a weights file: its JSON record, or for a bare state_dict the named architecture."""
    record_path = metadata_path(path)
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
            if not isinstance(record, dict) or not isinstance(record.get("model"), dict):
                raise ValueError('not a JSON object with a "model" object')
            metadata = WeightsMetadata.from_dict(record)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise WeightsError(f"{record_path} is not a valid weights metadata record ({error}).") from error
        if metadata.model.name not in available_models():
            raise WeightsError(
                f"{record_path} names the model {metadata.model.name!r}, which this version does not know "
                f"(it knows {', '.join(available_models())}): use weights made for it."
            )
        if arch is not None and arch != metadata.model.name:
            raise WeightsError(
                f"{path} holds a {metadata.model.name} model (per {record_path.name}), not {arch}."
            )
        return metadata
    if path.suffix == ".safetensors":
        raise WeightsError(f"{path} has no metadata record: {record_path.name} must lie beside it.")
    try:
        config = load_model_config(arch or "yolov3")
    except UnknownModelError:
        raise WeightsError(
            f"--arch {arch} is not an architecture: use one of {', '.join(available_models())}."
        ) from None
    return WeightsMetadata(model=config, version=path.name)


def describe_mismatch(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """None when ``state`` fits ``model`` exactly; otherwise a short account of the differences."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if not (missing or unexpected or wrong_shape):
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong_shape:
        key = wrong_shape[0]
        parts.append(
            f"{len(wrong_shape)} with another shape (e.g. {key}: file {tuple(state[key].shape)}, "
            f"model {tuple(expected[key].shape)})"
        )
    return ", ".join(parts)


def load_weights(
    path: Path | str | None = None, arch: str | None = None
) -> tuple[YoloModel, WeightsMetadata]:
    """Build the model described by the weights' metadata and load the tensors strictly (eval mode)."""
    path = Path(path) if path is not None else default_weights_path()
    check_readable(path)
    metadata = read_metadata(path, arch)
    state = _read_tensors(path)
    model = build_model(metadata.model)
    mismatch = describe_mismatch(model, state)
    if mismatch is not None:
        raise WeightsError(
            f"{path} does not match the {metadata.model.name} architecture "
            f"(width {metadata.model.width}): {mismatch}; pick the matching --arch or weights file."
        )
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, metadata

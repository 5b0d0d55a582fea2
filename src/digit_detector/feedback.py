"""Drawings people chose to share, with their corrected boxes: samples and where they are stored.

Nothing here decides *whether* to store: the app asks for explicit consent first (see
:mod:`digit_detector.ui.improve_page`). A store only saves what it is handed.

- :class:`LocalFeedbackStore` writes into the project's YOLO layout (:mod:`.data.yolo_format`)::

      ROOT/data.yaml
      ROOT/images/train/<id>.png      the drawing (RGB on white)
      ROOT/labels/train/<id>.txt      the corrected boxes, ``class xc yc w h``
      ROOT/feedback.jsonl             one record per sample: time, model version, predictions, corrections

  so ``python -m digit_detector data import ROOT --out DIR`` imports it as it is. Image and label are
  staged in ``ROOT/.staging`` and moved into place with ``os.replace`` (label first, so a visible image
  always has its complete label); the JSONL line is appended under an exclusive ``fcntl.flock``, so
  any number of app sessions (threads or processes) can save at once.
- :class:`S3FeedbackStore` puts the same files into a bucket: ``PREFIX/images/train/<id>.png``,
  ``PREFIX/labels/train/<id>.txt`` and ``PREFIX/meta/<id>.json`` (the JSONL record).

:func:`store_from_config` picks the store from a mapping (the app's ``st.secrets["feedback"]``) and the
environment: S3 when a bucket is configured, else the local folder.

===================================  =======================================================
``DIGIT_DETECTOR_FEEDBACK_DIR``      local store root (default ``data/feedback``, relative to the CWD)
``DIGIT_DETECTOR_FEEDBACK_DURABLE``  ``1``/``0``: the local folder does / does not outlive a restart
                                     (default: see :func:`local_store_is_durable`)
``DIGIT_DETECTOR_S3_BUCKET``         bucket; when set (or ``bucket`` in the mapping) S3 is used
``DIGIT_DETECTOR_S3_PREFIX``         key prefix (default ``feedback``)
``AWS_ENDPOINT_URL``, credentials    read by boto3 itself (``AWS_ACCESS_KEY_ID``, profiles, roles...)
``SPACE_ID``                         set by Hugging Face Spaces: the local folder is then temporary
===================================  =======================================================

Mapping keys (all optional): ``bucket``, ``prefix``, ``local_dir``, ``durable``, ``endpoint_url``,
``region``, ``aws_access_key_id``, ``aws_secret_access_key``, ``aws_session_token``; they take precedence
over the environment.

Durability: a Space's disk is wiped when it restarts, so on a Space (``$SPACE_ID`` set) the local store is
*temporary* (:attr:`LocalFeedbackStore.durable` False, :func:`sharing_is_temporary` True) unless its folder
lies in the Space's persistent storage (:data:`SPACE_PERSISTENT_DIR`, ``/data``) or
``DIGIT_DETECTOR_FEEDBACK_DURABLE`` says otherwise; the app then tells people so before and after they
share. An S3 bucket is durable.

Errors: a :class:`FeedbackError` message names the store (folder, ``s3://bucket/prefix``) and the cause,
which may include the endpoint URL. It is for the server log, after :func:`redact` (which removes any
``user:password@`` from URLs), never for the page.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.yolo_format import (
    format_label_lines,
    label_path_for,
    write_data_yaml,
    write_sample,
)

FEEDBACK_DIR_ENV = "DIGIT_DETECTOR_FEEDBACK_DIR"
FEEDBACK_DURABLE_ENV = "DIGIT_DETECTOR_FEEDBACK_DURABLE"
SPACE_ID_ENV = "SPACE_ID"
SPACE_PERSISTENT_DIR = Path("/data")  # a Space's persistent storage (a paid upgrade), when it has one
S3_BUCKET_ENV = "DIGIT_DETECTOR_S3_BUCKET"
S3_PREFIX_ENV = "DIGIT_DETECTOR_S3_PREFIX"
DEFAULT_FEEDBACK_DIR = Path("data") / "feedback"
DEFAULT_S3_PREFIX = "feedback"
SPLIT = "train"
JSONL_NAME = "feedback.jsonl"
STAGING_NAME = ".staging"
BORDER_TOLERANCE_PX = 1.0


class FeedbackError(RuntimeError):
    """A sample could not be stored; the message says where and why. Earlier samples are untouched."""


@dataclass(frozen=True)
class Prediction:
    """What the model said about one object (as :class:`digit_detector.detector.Detection`)."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels

    @classmethod
    def from_detection(cls, detection: Any) -> Prediction:
        """From a ``Detection`` (or anything with ``label``, ``class_id``, ``score``, ``box``)."""
        x1, y1, x2, y2 = (float(v) for v in detection.box)
        return cls(str(detection.label), int(detection.class_id), float(detection.score), (x1, y1, x2, y2))

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "class_id": self.class_id,
            "score": round(self.score, 4),
            "box": [round(v, 1) for v in self.box],
        }


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FeedbackSample:
    """One shared drawing: the image, the boxes as corrected by the person, and what the model said.

    ``image`` is HxWx3 RGB uint8; ``boxes_xyxy`` (N, 4) in its pixels (clipped to it, up to 1 px beyond
    is tolerated); ``class_ids`` (N,) the corrected classes. Raises ValueError when inconsistent.
    """

    image: NDArray[np.uint8]
    boxes_xyxy: NDArray[np.float64]
    class_ids: NDArray[np.int64]
    predictions: tuple[Prediction, ...] = ()
    model_version: str = "unknown"
    timestamp: datetime = field(default_factory=_utc_now)
    note: str | None = None

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise ValueError(f"image must be an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}")
        boxes = np.asarray(self.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if len(boxes) != len(class_ids):
            raise ValueError(f"{len(boxes)} boxes but {len(class_ids)} class ids")
        if len(class_ids) and (class_ids.min() < 0 or class_ids.max() >= NUM_CLASSES):
            raise ValueError(f"class ids must lie in 0..{NUM_CLASSES - 1}, got {class_ids.tolist()}")
        height, width = image.shape[:2]
        if not np.isfinite(boxes).all():
            raise ValueError("boxes must be finite")
        limits = np.array([width, height, width, height], dtype=np.float64)
        if (boxes < -BORDER_TOLERANCE_PX).any() or (boxes > limits + BORDER_TOLERANCE_PX).any():
            raise ValueError(f"boxes must lie inside the {width}x{height} image, got {boxes.tolist()}")
        boxes = np.clip(boxes, 0, limits)
        if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
            raise ValueError(f"boxes must have a positive width and height, got {boxes.tolist()}")
        if self.timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        self.image = np.ascontiguousarray(image)
        self.boxes_xyxy = boxes
        self.class_ids = class_ids
        self.predictions = tuple(self.predictions)

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def label_text(self) -> str:
        """The YOLO label file's text for the corrected boxes."""
        return format_label_lines(self.class_ids, self.boxes_xyxy, self.image_size)

    def png_bytes(self) -> bytes:
        """The image encoded as PNG."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.image).save(buffer, format="PNG")
        return buffer.getvalue()

    def record(self, sample_id: str) -> dict[str, Any]:
        """The metadata record (one ``feedback.jsonl`` line, or ``meta/<id>.json`` on S3)."""
        return {
            "id": sample_id,
            "time": self.timestamp.astimezone(UTC).isoformat(timespec="milliseconds"),
            "model_version": self.model_version,
            "image": f"images/{SPLIT}/{sample_id}.png",
            "labels": f"labels/{SPLIT}/{sample_id}.txt",
            "image_size": list(self.image_size),
            "predictions": [p.to_json() for p in self.predictions],
            "corrections": [
                {"label": CLASS_NAMES[int(c)], "class_id": int(c), "box": [round(float(v), 1) for v in box]}
                for c, box in zip(self.class_ids, self.boxes_xyxy, strict=True)
            ],
            "note": self.note,
        }


def new_sample_id(timestamp: datetime | None = None) -> str:
    """A unique, sortable, file-name-safe id: ``20250102T030405Z-<uuid4 hex>``."""
    when = (timestamp or _utc_now()).astimezone(UTC)
    return f"{when:%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex}"


@runtime_checkable
class FeedbackStore(Protocol):
    """Somewhere shared samples go."""

    def save(self, sample: FeedbackSample) -> str:
        """Store one sample completely or not at all; returns its id. Raises FeedbackError."""
        ...


# --------------------------------------------------------------------------- local folder


@contextmanager
def _locked_append(path: Path) -> Iterator[Any]:
    """``path`` opened for appending while holding an exclusive ``flock`` on it."""
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class LocalFeedbackStore:
    """Samples in a local YOLO dataset folder plus ``feedback.jsonl`` (see the module docstring).

    ``durable``: whether the folder outlives a restart of the app (False on a Space's ephemeral disk).
    """

    def __init__(self, root: Path | str | None = None, durable: bool = True) -> None:
        self.root = Path(root) if root is not None else default_feedback_dir()
        self.durable = durable

    def __repr__(self) -> str:
        return f"LocalFeedbackStore({str(self.root)!r})"

    @property
    def jsonl_path(self) -> Path:
        return self.root / JSONL_NAME

    def save(self, sample: FeedbackSample) -> str:
        """Write the image, its label and the JSONL record; all of them or none. Returns the id."""
        sample_id = new_sample_id(sample.timestamp)
        stage = self.root / STAGING_NAME / sample_id
        published: list[Path] = []
        try:
            staged_image = write_sample(
                stage, SPLIT, sample_id, sample.image, sample.class_ids, sample.boxes_xyxy
            )
            staged_label = label_path_for(staged_image)
            if not (self.root / "data.yaml").exists():
                write_data_yaml(self.root)
            image_path = self.root / "images" / SPLIT / staged_image.name
            label_path = label_path_for(image_path)
            for source, target in ((staged_label, label_path), (staged_image, image_path)):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
                published.append(target)
            line = json.dumps(sample.record(sample_id), sort_keys=True) + "\n"
            with _locked_append(self.jsonl_path) as handle:
                handle.write(line)
        except OSError as error:
            for path in reversed(published):
                path.unlink(missing_ok=True)
            raise FeedbackError(
                f"Could not save the drawing to {self.root} ({type(error).__name__}: {error}); "
                "earlier samples are unchanged."
            ) from error
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return sample_id

    def read_records(self) -> list[dict[str, Any]]:
        """All records of ``feedback.jsonl``, oldest first."""
        if not self.jsonl_path.exists():
            return []
        return [json.loads(line) for line in self.jsonl_path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- S3


def _join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class S3FeedbackStore:
    """Samples as objects in an S3 bucket (or any S3-compatible service), in the YOLO layout.

    ``client`` is a boto3 S3 client; by default one is made as boto3 configures itself (environment,
    profiles, ``AWS_ENDPOINT_URL``), with short timeouts so an unreachable service fails quickly.
    """

    durable = True

    def __init__(self, bucket: str, prefix: str = DEFAULT_S3_PREFIX, client: Any | None = None) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else make_s3_client()

    def __repr__(self) -> str:
        return f"S3FeedbackStore({self.location!r})"

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def keys_for(self, sample_id: str) -> dict[str, str]:
        """Object keys of one sample: ``image``, ``label``, ``meta``."""
        return {
            "image": _join_key(self.prefix, "images", SPLIT, f"{sample_id}.png"),
            "label": _join_key(self.prefix, "labels", SPLIT, f"{sample_id}.txt"),
            "meta": _join_key(self.prefix, "meta", f"{sample_id}.json"),
        }

    def save(self, sample: FeedbackSample) -> str:
        """Put the label, the image and then the metadata; on failure remove what was put."""
        from botocore.exceptions import BotoCoreError, ClientError

        sample_id = new_sample_id(sample.timestamp)
        keys = self.keys_for(sample_id)
        record = json.dumps(sample.record(sample_id), sort_keys=True, indent=1).encode()
        objects = (
            (keys["label"], sample.label_text().encode(), "text/plain"),
            (keys["image"], sample.png_bytes(), "image/png"),
            (keys["meta"], record, "application/json"),
        )
        tried: list[str] = []
        try:
            for key, body, content_type in objects:
                tried.append(key)
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except (BotoCoreError, ClientError) as error:
            # Best effort: the service is failing; without its meta a sample is not done. The put that
            # failed is removed too: a timed-out put may still have landed (no orphan meta left behind).
            for key in tried:
                with suppress(BotoCoreError, ClientError):
                    self.client.delete_object(Bucket=self.bucket, Key=key)
            raise FeedbackError(
                f"Could not upload the drawing to {self.location} ({type(error).__name__}: {error}); "
                "earlier samples are unchanged."
            ) from error
        return sample_id


def make_s3_client(settings: Mapping[str, Any] | None = None) -> Any:
    """A boto3 S3 client with short timeouts; ``settings`` may give ``endpoint_url``, ``region``, keys."""
    import boto3
    from botocore.config import Config

    settings = settings or {}
    options = {
        name: str(settings[key])
        for key, name in (
            ("endpoint_url", "endpoint_url"),
            ("region", "region_name"),
            ("aws_access_key_id", "aws_access_key_id"),
            ("aws_secret_access_key", "aws_secret_access_key"),
            ("aws_session_token", "aws_session_token"),
        )
        if settings.get(key)
    }
    config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", config=config, **options)


# --------------------------------------------------------------------------- configuration


def default_feedback_dir() -> Path:
    """``$DIGIT_DETECTOR_FEEDBACK_DIR``, else ``data/feedback``."""
    return Path(os.environ.get(FEEDBACK_DIR_ENV) or DEFAULT_FEEDBACK_DIR)


def on_space() -> bool:
    """True on a Hugging Face Space (``$SPACE_ID`` is set there)."""
    return bool(os.environ.get(SPACE_ID_ENV))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def local_store_is_durable(root: Path | str, setting: Any = None) -> bool:
    """Whether a local store at ``root`` outlives a restart of the app.

    ``setting`` (the mapping's ``durable``), else ``$DIGIT_DETECTOR_FEEDBACK_DURABLE``, decides when given
    (``1/true/yes/on`` or ``0/false/no/off``; anything else counts as not durable, so the app never claims
    a lasting save it cannot vouch for). Without one: durable off a Space; on a Space only inside its
    persistent storage (:data:`SPACE_PERSISTENT_DIR`, when it exists).
    """
    if setting is None or setting == "":
        setting = os.environ.get(FEEDBACK_DURABLE_ENV, "")
    if isinstance(setting, bool):
        return setting
    text = str(setting).strip().lower()
    if text:
        return text in _TRUE
    if not on_space():
        return True
    persistent = SPACE_PERSISTENT_DIR
    return persistent.is_dir() and Path(os.path.abspath(root)).is_relative_to(persistent)


def _bucket(settings: Mapping[str, Any]) -> str:
    return str(settings.get("bucket") or os.environ.get(S3_BUCKET_ENV) or "")


def _local_dir(settings: Mapping[str, Any]) -> Path:
    local_dir = settings.get("local_dir")
    return Path(str(local_dir)) if local_dir else default_feedback_dir()


def sharing_is_temporary(config: Mapping[str, Any] | None = None) -> bool:
    """True when :func:`store_from_config` would pick a local folder that is lost on a restart."""
    settings = dict(config or {})
    if _bucket(settings):
        return False
    return not local_store_is_durable(_local_dir(settings), settings.get("durable"))


_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s\"'<>?#]*@")


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``."""
    return _URL_USERINFO.sub(r"\g<scheme>***@", text)


def store_from_config(config: Mapping[str, Any] | None = None) -> FeedbackStore:
    """S3 when a bucket is configured (mapping key ``bucket`` or ``$DIGIT_DETECTOR_S3_BUCKET``), else local
    (``durable`` as :func:`local_store_is_durable` says).

    Raises FeedbackError when the S3 settings are unusable (its message may hold the endpoint URL: log it
    through :func:`redact`, never show it).
    """
    settings = dict(config or {})
    bucket = _bucket(settings)
    if bucket:
        prefix = settings.get("prefix")
        if prefix is None:
            prefix = os.environ.get(S3_PREFIX_ENV, DEFAULT_S3_PREFIX)
        try:
            client = make_s3_client(settings)
        except Exception as error:  # botocore raises many types for bad settings (region, endpoint URL)
            raise FeedbackError(
                f"The S3 feedback store for bucket {bucket!r} is misconfigured "
                f"({type(error).__name__}: {error})."
            ) from error
        return S3FeedbackStore(bucket, str(prefix), client)
    root = _local_dir(settings)
    return LocalFeedbackStore(root, durable=local_store_is_durable(root, settings.get("durable")))

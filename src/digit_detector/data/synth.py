"""Synthetic training canvases: layouts of drawn objects, augmented, written in the YOLO layout.

``generate`` writes ``n`` 400x400 RGB PNG canvases of one split with their labels, one metadata
record per image in ``meta/<split>.jsonl`` (seed, layout kind, pen width, augmentation, per-object
class, box and source) and a fingerprint of everything that determines the data in ``data.yaml``.
Image ``i`` depends only on ``np.random.default_rng([seed, split_index, i])``, so the output is
byte-identical for a given seed whatever the number of workers.

CLI: ``python -m digit_detector data synth --out DIR --n N --seed S [--split train|val|test]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from digit_detector.data import sources
from digit_detector.data.augment import Augmenter, AugmentResult, tight_boxes
from digit_detector.data.augment_config import AugmentConfig
from digit_detector.data.compose import ComposeConfig, ObjectSource, compose
from digit_detector.data.yolo_format import SPLITS, append_meta, write_data_yaml, write_sample
from digit_detector.parallel import ordered_map

GENERATOR = "digit_detector.data.synth"
GENERATOR_VERSION = 1  # bump when the output of a given config and seed changes


@dataclass(frozen=True)
class SynthConfig:
    """Everything that shapes the synthetic data (hashed into the dataset fingerprint)."""

    compose: ComposeConfig = field(default_factory=ComposeConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    use_augment: bool = True
    p_augment: float = 0.9  # fraction of canvases augmented when use_augment
    sketch_share: float = 0.0  # share of digits drawn from mouse-sketch templates (data.sketches)
    more_fonts: bool = False  # train: sources.MORE_TRAIN_FONTS too; val: only MORE_VAL_FONTS; test refuses
    cache_dir: str | None = None  # where the raw sources live (not part of the fingerprint)


def make_factory(
    split: str,
    rng: np.random.Generator,
    cache_dir: Path | None,
    sketch_share: float = 0.0,
    more_fonts: bool = False,
) -> ObjectSource:
    """The real object renderers (:class:`digit_detector.data.objects.ObjectFactory`)."""
    from digit_detector.data.objects import ObjectFactory

    return ObjectFactory(split, rng, cache_dir=cache_dir, sketch_share=sketch_share, more_fonts=more_fonts)


def _versions(more_fonts: bool) -> dict[str, Any]:
    specs = sources.PINNED_SHA256 if more_fonts else sources.SOURCE_SPECS
    data = {spec: sources.PINNED_SHA256[spec] for spec in specs}
    versions: dict[str, Any] = {
        "generator": GENERATOR_VERSION,
        "data": data,
        "mnist_excluded": sources.sha256_file(sources.MNIST_EXCLUDED_FILE),  # originals no split draws
    }
    for package in ("numpy", "opencv-python-headless", "albumentations", "pillow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def fingerprint(config: SynthConfig, split: str, seed: int, n: int) -> str:
    """sha256 of the JSON of the config, split, seed, n and the package and data versions."""
    config_dict = dataclasses.asdict(config)
    config_dict.pop("cache_dir", None)
    # options left at their defaults make the canvases made before them: the same fingerprint
    if not config.sketch_share:
        config_dict.pop("sketch_share")
    if not config.more_fonts:
        config_dict.pop("more_fonts")
    if config.compose.digit_weights is None:
        config_dict["compose"].pop("digit_weights")
    if not config.compose.repeat_share:
        config_dict["compose"].pop("repeat_share")
    payload = {
        "config": config_dict,
        "split": split,
        "seed": seed,
        "n": n,
        "versions": _versions(config.more_fonts),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def stem_for(seed: int, index: int) -> str:
    return f"synth_s{seed}_{index:06d}"


class _Worker:
    """Renders and writes canvases; one per process (holds the factory and the augmenter)."""

    def __init__(self, out: Path, split: str, seed: int, config: SynthConfig) -> None:
        self.out, self.split, self.seed, self.config = out, split, seed, config
        self.split_index = SPLITS.index(split)
        self.augmenter = Augmenter(config.augment)
        self.cache_dir = Path(config.cache_dir) if config.cache_dir else None
        self.factory: ObjectSource | None = None

    def _factory(self, rng: np.random.Generator) -> ObjectSource:
        """The factory, drawing from this image's ``rng`` (made once; its loaded data is reused).

        It is created with an rng of its own so that what its constructor draws never depends on
        which image a worker happens to start with (the output must not depend on ``--workers``).
        """
        if self.factory is None:
            own = np.random.default_rng([self.seed, self.split_index, 2**32])
            self.factory = make_factory(
                self.split, own, self.cache_dir, self.config.sketch_share, self.config.more_fonts
            )
        self.factory.rng = rng  # type: ignore[attr-defined]
        return self.factory

    def __call__(self, index: int) -> dict[str, Any]:
        seed_key = [self.seed, self.split_index, index]
        rng = np.random.default_rng(seed_key)
        comp = compose(self._factory(rng), rng, self.config.compose)
        image = comp.image()
        masks = comp.masks()
        augmented = self.config.use_augment and rng.random() < self.config.p_augment
        result: AugmentResult = self.augmenter(image, masks, rng) if augmented else tight_boxes(image, masks)
        class_ids = np.array([comp.objects[i].class_id for i in result.kept], dtype=np.int64)
        rgb = np.asarray(cv2.cvtColor(result.image, cv2.COLOR_GRAY2RGB), dtype=np.uint8)
        stem = stem_for(self.seed, index)
        write_sample(self.out, self.split, stem, rgb, class_ids, result.boxes)
        kept = {i: box for i, box in zip(result.kept, result.boxes.tolist(), strict=True)}
        objects = [
            {
                "class_id": obj.class_id,
                "box_xyxy": kept.get(i),
                "dropped": i not in kept,
                "visible": round(result.visible[i], 3),
                "height": round(obj.height, 2),
                "pen_width": round(obj.pen_width, 2),
                "source": obj.source,
            }
            for i, obj in enumerate(comp.objects)
        ]
        return {
            "image": f"images/{self.split}/{stem}.png",
            "generator": GENERATOR,
            "seed": seed_key,
            "layout": comp.layout,
            "pen_width": round(comp.pen_width, 2),
            "augmented": bool(augmented),
            "objects": objects,
        }


_WORKER: _Worker | None = None


def _init_worker(out: Path, split: str, seed: int, config: SynthConfig) -> None:
    global _WORKER
    _WORKER = _Worker(out, split, seed, config)


def _run_worker(index: int) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER(index)


def _records(
    out: Path, n: int, seed: int, split: str, config: SynthConfig, workers: int
) -> Iterator[dict[str, Any]]:
    """Per-image records in index order (rendered in this process or in a pool of ``workers``)."""
    return ordered_map(
        _run_worker, range(n), workers, initializer=_init_worker, initargs=(out, split, seed, config)
    )


def generate(
    out: Path,
    n: int,
    seed: int,
    split: str = "train",
    config: SynthConfig | None = None,
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write ``n`` synthetic canvases of ``split`` under ``out``; returns the ``data.yaml`` path.

    Refuses (FileExistsError) to write into a split that already has images unless ``overwrite``,
    which first removes that split's images, labels and metadata.
    """
    config = config or SynthConfig()
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    sources.fonts_for_split(
        split, config.more_fonts
    )  # refuses more fonts for the test split, before any work
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = Path(out)
    split_dirs = [out / "images" / split, out / "labels" / split]
    meta_path = out / "meta" / f"{split}.jsonl"
    if any(d.is_dir() and any(d.iterdir()) for d in split_dirs) or meta_path.exists():
        if not overwrite:
            raise FileExistsError(f"{out} already holds a {split!r} split; pass overwrite=True (--overwrite)")
        for d in split_dirs:
            shutil.rmtree(d, ignore_errors=True)
        meta_path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.touch()
    batch: list[dict[str, Any]] = []
    bar = tqdm(total=n, desc=f"synth {split}", unit="canvas", disable=not progress)
    for record in _records(out, n, seed, split, config, workers):
        batch.append(record)
        bar.update(1)
        if len(batch) >= 256:
            append_meta(out, split, batch)
            batch = []
    append_meta(out, split, batch)
    bar.close()
    return write_data_yaml(out, {split: fingerprint(config, split, seed, n)})

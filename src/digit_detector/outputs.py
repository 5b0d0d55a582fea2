"""The files ``predict`` writes besides its table or JSON lines, laid out as ultralytics' ``predict`` does.

- annotated images: ``<save_dir>/<stem>.png``, :meth:`DetectionResult.save` (the app's picture);
- YOLO label files with scores: ``<labels_dir>/<stem>.txt``, one ``class xc yc w h score`` line per detection
  (:meth:`DetectionResult.to_yolo`); an image with no detection gets an empty file, so every readable input
  has one;
- COCO results JSON for all images: ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]``
  (:meth:`DetectionResult.to_coco`), the list pycocotools' ``COCO.loadRes`` reads. Image ids are numbered
  as ``data export-coco`` numbers a split's images: 1, 2, ... over the readable images in the order they
  come (a directory's files sorted by name), so results for ``<dataset>/images/<split>`` load against that
  split's export (when every image of it is readable and labelled, as the exporter skips the others).

Nothing is written over an input image: such an output is refused with :class:`OutputError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digit_detector.data.yolo_format import atomic_write_bytes
from digit_detector.detector import DetectionResult


class OutputError(ValueError):
    """An output that cannot be written for one image (the message says why)."""


@dataclass
class PredictionOutputs:
    """Writes each image's outputs as it comes (:meth:`add`) and the COCO file at the end (:meth:`close`)."""

    save_dir: Path | None = None
    labels_dir: Path | None = None
    coco_path: Path | None = None
    images: int = 0  # images added: the last COCO image id
    coco_records: list[dict[str, Any]] = field(default_factory=list)
    written: dict[Path, Path] = field(default_factory=dict)  # output file -> the input it came from

    def targets(self, source: Path) -> list[Path]:
        """The files :meth:`add` writes for the image ``source``."""
        paths = [self.save_dir / f"{source.stem}.png"] if self.save_dir is not None else []
        return paths + ([self.labels_dir / f"{source.stem}.txt"] if self.labels_dir is not None else [])

    def add(self, source: Path, result: DetectionResult) -> list[str]:
        """Keep ``result``'s COCO records and write its picture and label file; returns warnings (an
        earlier image's output of the same stem overwritten). :class:`OutputError`, before any file is
        written, when one would replace the input image itself (the COCO records are kept all the same)."""
        self.images += 1
        self.coco_records += result.to_coco(self.images)
        targets = self.targets(source)
        for target in targets:
            if target.resolve() == source.resolve():
                raise OutputError(f"not writing {target}: it is the input image")
        warnings = [
            f"{target} overwrites the output of {self.written[target]}"
            for target in targets
            if target in self.written and self.written[target] != source
        ]
        if self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            result.save(targets[0])
        if self.labels_dir is not None:
            atomic_write_bytes(targets[-1], "".join(f"{line}\n" for line in result.to_yolo()).encode())
        self.written.update(dict.fromkeys(targets, source))
        return warnings

    def close(self) -> Path | None:
        """Write the COCO results file (all images added, ``[]`` when nothing was found); its path."""
        if self.coco_path is None:
            return None
        lines = ",\n".join(json.dumps(record) for record in self.coco_records)  # one detection a line
        atomic_write_bytes(self.coco_path, (f"[\n{lines}\n]\n" if lines else "[]\n").encode())
        return self.coco_path

"""What a detection run gives back: :class:`Detection` and :class:`DetectionResult`, with the outputs
ultralytics' ``Results`` offers: the annotated picture (:meth:`~DetectionResult.plot`,
:meth:`~DetectionResult.save`), YOLO label lines with scores (:meth:`~DetectionResult.to_yolo`) and COCO
results records (:meth:`~DetectionResult.to_coco`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from digit_detector.boxes import xyxy_to_coco, xyxy_to_yolo
from digit_detector.data.coco import CATEGORY_ID_OFFSET
from digit_detector.preprocess import ImageLike, to_rgb
from digit_detector.reading import read_number
from digit_detector.render import annotate


@dataclass(frozen=True)
class Detection:
    """One drawn object: its class, confidence and box (x1, y1, x2, y2) in the input image's pixels."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]
    runner_up: str | None = None  # the second most likely class, when the namer hesitates ("4 or 9")
    runner_up_score: float | None = None
    objectness: float | None = None  # how sure the detector is that something is drawn there

    @property
    def name_probability(self) -> float:
        """The probability of its label: score over objectness (0 without objectness)."""
        return self.score / self.objectness if self.objectness else 0.0

    @property
    def shown_label(self) -> str:
        """The label as the app shows it: ``"4 or 9"`` when the namer hesitates between two classes."""
        return self.label if self.runner_up is None else f"{self.label} or {self.runner_up}"


@dataclass
class DetectionResult:
    """Everything detected in one image, best score first, and the number the digits spell.

    ``orig_img`` is the image the detector was given (as ultralytics' ``Results.orig_img``; a path is read
    first), kept by reference for :meth:`plot` and :meth:`save`: it takes no memory of its own while the
    caller holds the image, is left out of ``==`` and ``repr``, and is ``None`` where a result is built by
    hand or by the evaluation (which keeps thousands of results): pass the image to :meth:`plot` then.
    """

    detections: list[Detection]
    number: str
    image_size: tuple[int, int]  # (width, height)
    ms: float  # preprocess + model + decode/NMS, milliseconds
    timings_ms: dict[str, float] = field(default_factory=dict)
    orig_img: ImageLike | None = field(default=None, compare=False, repr=False)

    def with_detections(self, detections: list[Detection]) -> DetectionResult:
        """This result showing ``detections`` instead (a replayed selection), the number read from them."""
        boxes = np.asarray([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        return replace(
            self, detections=detections, number=read_number([d.class_id for d in detections], boxes)
        )

    def plot(self, image: ImageLike | None = None, *, scale: int = 1) -> Image.Image:
        """The annotated picture, as the app draws it (:func:`digit_detector.render.annotate`): the image
        (default :attr:`orig_img`) on white, censored objects pixelated, every box with its label and score;
        ``scale`` enlarges it (the app draws at 2x for high-DPI screens)."""
        source = self.orig_img if image is None else image
        if source is None:
            raise ValueError("this result keeps no image (orig_img is None): pass the image to plot(image)")
        picture = Image.fromarray(to_rgb(source))
        if picture.size != self.image_size:
            raise ValueError(
                f"the image is {picture.size[0]}x{picture.size[1]}, the result's is "
                f"{self.image_size[0]}x{self.image_size[1]}"
            )
        return annotate(picture, self.detections, scale=scale)

    def save(self, path: Path | str, image: ImageLike | None = None) -> Path:
        """Write :meth:`plot`'s picture to ``path`` (format from the suffix, e.g. ``.png``); returns it."""
        path = Path(path)
        self.plot(image).save(path)
        return path

    def to_yolo(self) -> list[str]:
        """One YOLO label line per detection, best first: ``class xc yc w h score``, the box normalised to the
        image (0..1, six decimals) as in the dataset's label files, plus the score (five decimals)."""
        if not self.detections:
            return []
        boxes = xyxy_to_yolo(np.array([d.box for d in self.detections], dtype=np.float64), self.image_size)
        return [
            f"{d.class_id} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f} {d.score:.5f}"
            for d, (xc, yc, w, h) in zip(self.detections, boxes.tolist(), strict=True)
        ]

    def to_coco(self, image_id: int | str) -> list[dict[str, Any]]:
        """COCO results records (what pycocotools' ``COCO.loadRes`` reads), one per detection:
        ``{"image_id", "category_id": class id + 1, "bbox": [x, y, w, h] (pixels, three decimals),
        "score" (five decimals)}``; category ids as ``data export-coco`` writes them."""
        if not self.detections:
            return []
        boxes = xyxy_to_coco(np.array([d.box for d in self.detections], dtype=np.float64))
        return [
            {
                "image_id": image_id,
                "category_id": d.class_id + CATEGORY_ID_OFFSET,
                "bbox": [round(v, 3) for v in box],
                "score": round(d.score, 5),
            }
            for d, box in zip(self.detections, boxes.tolist(), strict=True)
        ]

    def to_json(self, image: str) -> dict[str, Any]:
        """The CLI's JSON record for this image."""
        return {
            "image": image,
            "detections": [
                {
                    **asdict(d),
                    "score": round(d.score, 4),
                    "box": [round(v, 1) for v in d.box],
                    "runner_up_score": None if d.runner_up_score is None else round(d.runner_up_score, 4),
                    "objectness": None if d.objectness is None else round(d.objectness, 4),
                }
                for d in self.detections
            ],
            "number": self.number,
            "ms": round(self.ms, 2),
        }

"""Writing an evaluation report: ``report.json`` and its pictures (confusion matrix, PR curves, worst
errors)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

from digit_detector.evaluation.predictions import MATCH_IOU
from digit_detector.evaluation.report import BACKGROUND, RECALL_POINTS, EvalReport, ImageError, fmt
from digit_detector.io import read_image
from digit_detector.plots import new_figure, plot_confusion_matrix
from digit_detector.preprocess import ImageInputError
from digit_detector.render import grid
from digit_detector.weights import record_json


def save_report(report: EvalReport, out_dir: Path | str) -> Path:
    """Write report.json, confusion_matrix.png, pr_curves.png and worst_errors.png; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(record_json(report.to_dict()) + "\n", encoding="utf-8")
    plot_confusion(report, out / "confusion_matrix.png")
    plot_pr_curves(report, out / "pr_curves.png")
    contact_sheet(report.worst).save(out / "worst_errors.png")
    return out


def plot_confusion(report: EvalReport, path: Path) -> None:
    """Ground truth (rows) vs detected (columns) counts, background last, coloured by each row's share."""
    plot_confusion_matrix(
        report.confusion_matrix,
        [*report.class_names, BACKGROUND],
        path,
        title=f"Confusion matrix at score >= {report.score_threshold:g}, IoU >= {MATCH_IOU}",
        row_label="ground truth",
        column_label="detected",
    )


def plot_pr_curves(report: EvalReport, path: Path) -> None:
    """Per-class precision-recall curves at IoU 0.5 (per-class NMS, COCO interpolation)."""
    fig = new_figure(8, 6)
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    for index, name in enumerate(report.class_names):
        curve = report.pr_curves.get(name)
        if curve is None:
            continue
        style = (
            {"color": cmap(index)}
            if index < 10
            else {"color": "0.3", "linestyle": "--" if index == 10 else ":"}
        )
        ap = report.ap50_per_class[name]
        ax.plot(RECALL_POINTS, curve, label=f"{name} (AP50 {fmt(ap)})", linewidth=1.5, **style)
    if not report.pr_curves:
        ax.text(0.5, 0.5, "no ground truth boxes", ha="center", va="center")
    else:
        ax.legend(loc="lower left", fontsize=8, ncol=2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision-recall at IoU 0.5 (mAP@0.5 {fmt(report.map50)})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


TILE = 240
CAPTION_HEIGHT = 44
SHEET_COLUMNS = 5


def _wrap(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return [*lines, line]


def _tile(error: ImageError, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    tile = Image.new("RGB", (TILE, TILE + CAPTION_HEIGHT), "white")
    try:
        image = read_image(error.image_path).convert("RGB")
    except ImageInputError:
        image = Image.new("RGB", (TILE, TILE), "lightgray")
    scale = min(TILE / image.width, TILE / image.height)
    shown = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    tile.paste(shown, (0, 0))
    draw = ImageDraw.Draw(tile)
    for box in error.gt_boxes:
        x1, y1, x2, y2 = (v * scale for v in box)
        draw.rectangle([x1 - 2, y1 - 2, x2 + 2, y2 + 2], outline=(0, 170, 0), width=3)
    for detection in error.detections:
        x1, y1, x2, y2 = (v * scale for v in detection.box)
        draw.rectangle([x1, y1, x2, y2], outline=(220, 0, 0), width=1)
        label = f"{detection.label} {detection.score:.2f}"
        draw.text((x1 + 1, max(0, y1 - 11)), label, fill=(220, 0, 0), font=font)
    lines = _wrap(error.caption, font, TILE - 4)[:3]
    draw.multiline_text((2, TILE + 2), "\n".join(lines), fill="black", font=font, spacing=2)
    return tile


def contact_sheet(errors: Sequence[ImageError]) -> Image.Image:
    """The worst images as a grid (:func:`digit_detector.render.grid`): ground truth green, detections red
    with label and score, a caption under each."""
    font = ImageFont.load_default(size=11)
    if not errors:
        sheet = Image.new("RGB", (TILE * 2, 60), "white")
        ImageDraw.Draw(sheet).text((10, 20), "no errors at this threshold", fill="black", font=font)
        return sheet
    return grid(
        [_tile(error, font) for error in errors], SHEET_COLUMNS, tile_size=(TILE, TILE + CAPTION_HEIGHT)
    )

"""The "About" page: how the app works, the 12 classes, the model's metrics and the project history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from digit_detector import __version__
from digit_detector.classes import CENSORED_ID, CLASS_NAMES, OTHER_ID
from digit_detector.detector import Detector
from digit_detector.render import class_colour
from digit_detector.torch_backend import TorchBackend
from digit_detector.ui.state import try_load_detector, weights_path

EVAL_PLOTS = {
    "confusion_matrix.png": "Confusion matrix on the test split (rows: ground truth, columns: detections).",
    "pr_curves.png": "Precision-recall curves per class.",
    "worst_errors.png": "The test canvases the model gets most wrong.",
}

HISTORY = """
| version | year | what it was |
| --- | --- | --- |
| v1 | 2017 | Flask + a neural net written in NumPy: one digit per drawing. |
| v2 | 2019 | Flask + a PyTorch CNN classifying digits that OpenCV segmented out of the drawing (11 classes). A digit drawn in several strokes fell apart. |
| v3 | — | A YOLOv3 (Darknet-53) trained from scratch that boxes every object: 12 classes, 192×192 input, Streamlit on Hugging Face Spaces. |
| v4 | now | This rebuild (package 4.x): the same 12 classes (the v3 checkpoint still loads), a YOLOv3-tiny that runs in milliseconds on a CPU, labels with exact boxes, training-time normalisation at inference, tests end to end, an ONNX export — and nothing uploaded without asking. Since weights v9 a small crop classifier names every box the detector finds, so a clear digit of any size gets an answer ("4 or 9" when it hesitates). |
"""  # noqa: E501

COMMANDS = """\
# data: synthetic canvases built from MNIST, handwriting fonts and Hershey strokes (see docs/data.md)
python -m digit_detector data synth --out data/synth --split train --n 100000 --seed 1 --workers 2
python -m digit_detector data synth --out data/synth --split val --n 1500 --seed 2 --workers 2
python -m digit_detector data synth --out data/synth --split test --n 2000 --seed 3 --workers 2
# train (Lightning + Hydra), pick the score threshold on val, evaluate on test, write the weights
python -m digit_detector train experiment=cpu_tiny data.root=data/synth
# the second stage: train the crop classifier, attach it (thresholds on val, report on test)
python -m digit_detector namer train --data data/synth --minutes 14 --out runs/namer/namer.safetensors
python -m digit_detector namer attach --detector runs/x/yolov3-tiny.safetensors \\
    --namer runs/namer/namer.safetensors --data data/synth --out runs/ship
# evaluate any weights against the ship targets; export for onnxruntime
python -m digit_detector eval --data data/synth --split test --weights weights/yolov3-tiny.safetensors
python -m digit_detector export --format onnx
"""


def pipeline_dot(arch: str = "yolov3-tiny", input_size: int = 192, namer: bool = False) -> str:
    """The inference pipeline as a Graphviz diagram (left to right); ``namer``: with the second stage."""
    steps = [
        ("canvas", "Your drawing\\n400×400 RGBA"),
        ("pre", f"Preprocess\\non white · {input_size}×{input_size}\\npixel / 255"),
        ("model", f"{arch}\\n3 scales: grids of\\n{input_size // 32}, {input_size // 16}, {input_size // 8}"),
        ("decode", "Decode\\nboxes, objectness,\\n12 class probabilities"),
        (
            "nms",
            "Objectness threshold\\n+ NMS\\n+ boxes fitted to the ink\\n+ crop classifier names\\neach box"
            if namer
            else "Score threshold\\n+ NMS\\n+ boxes fitted to the ink",
        ),
        ("read", "Read the number\\nlines top → bottom,\\nleft → right"),
        ("show", "Show\\npixelate censored,\\ndraw boxes"),
    ]
    nodes = "\n".join(f'  {name} [label="{label}"];' for name, label in steps)
    return (
        "digraph pipeline {\n"
        '  rankdir=LR; bgcolor="transparent";\n'
        '  node [shape=box, style="rounded,filled", fillcolor="#eef2f8", color="#7a8aa8", '
        'fontname="Helvetica", fontsize=11];\n'
        '  edge [color="#7a8aa8"];\n'
        f"{nodes}\n"
        "  canvas -> pre -> model -> decode -> nms -> read;\n"
        "  nms -> show;\n"
        "}\n"
    )


def class_rows() -> list[dict[str, Any]]:
    """One row per class, in the model's order."""
    meaning = {
        CENSORED_ID: "a crude doodle: detected so the app can pixelate it",
        OTHER_ID: "anything else: letters, words, shapes, faces, scribbles",
    }
    return [
        {"id": class_id, "class": name, "what": meaning.get(class_id, f"the digit {name}")}
        for class_id, name in enumerate(CLASS_NAMES)
    ]


def _ratio(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "—"


def headline_metrics(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, shown value) for the metrics that decide whether a model ships, from an eval report dict."""
    per_class_nms = report.get("map", {}).get("per_class_nms", {})
    blank = report.get("blank", {})
    other = report.get("other", {})
    blank_value = (
        f"{blank['with_detection']} of {blank['images']}"
        if "with_detection" in blank and "images" in blank
        else "—"
    )
    return [
        ("mAP@0.5", _ratio(per_class_nms.get("map50"))),
        ("mAP@0.5:0.95", _ratio(per_class_nms.get("map50_95"))),
        ("single digit, top-1", _ratio(report.get("single_digit", {}).get("top1"))),
        ("numbers read exactly", _ratio(report.get("numbers", {}).get("accuracy"))),
        ("blank canvases with a box", blank_value),
        ("`other` taken for a digit", _ratio(other.get("rate"))),
    ]


def target_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The ship targets of an eval report as table rows."""
    marks = {True: "✅", False: "❌", None: "—"}
    return [
        {
            "target": name,
            "value": check.get("value"),
            "goal": check.get("goal"),
            "met": marks[check.get("pass")],
        }
        for name, check in report.get("targets", {}).items()
    ]


def bucket_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's recall by size and pen-width bucket as table rows."""
    return [
        {
            "by": axis,
            "bucket": bucket,
            "true boxes": row.get("boxes"),
            "found": _ratio(row.get("found")),
            "named right": _ratio(row.get("named")),
        }
        for axis, buckets in report.get("recall_by_bucket", {}).items()
        for bucket, row in buckets.items()
    ]


def layout_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's readings by canvas layout as table rows (layouts with nothing to read left out)."""
    rows = []
    for layout, counts in report.get("readings_by_layout", {}).items():
        single, numbers = counts.get("single_digit", {}), counts.get("numbers", {})
        if single.get("images") or numbers.get("images"):
            rows.append(
                {
                    "layout": layout,
                    "single digits": single.get("images"),
                    "top-1": _ratio(single.get("top1")),
                    "canvases with 2+ digits": numbers.get("images"),
                    "read exactly": _ratio(numbers.get("accuracy")),
                }
            )
    return rows


def per_class_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-class ground-truth count and AP of an eval report as table rows."""
    return [
        {
            "class": name,
            "test boxes": row.get("gt"),
            "AP@0.5": row.get("ap50"),
            "AP@0.5:0.95": row.get("ap50_95"),
        }
        for name, row in report.get("per_class", {}).items()
    ]


def _styled_classes() -> Any:
    import pandas as pd  # a Streamlit dependency

    frame = pd.DataFrame(class_rows())

    def colour(name: str) -> str:
        red, green, blue = class_colour(CLASS_NAMES.index(name))
        return f"background-color: rgb({red},{green},{blue}); color: white; font-weight: 600"

    return frame.style.map(colour, subset=["class"])


def show_model(detector: Detector, weights: str) -> None:
    """The weights' facts, evaluation report and plots (whatever its metadata holds)."""
    metadata = detector.metadata
    config = metadata.model
    facts = [
        f"**Versions**: package `digit-detector {__version__}`, weights `{Path(weights).name}` "
        f"`{metadata.version}`",
        f"**Architecture**: `{config.name}` (width {config.width}), input {config.input_size}×"
        f"{config.input_size} RGB, normalisation `{metadata.normalization}`",
        f"**Defaults**: {'objectness' if metadata.namer else 'score'} threshold "
        f"{metadata.score_threshold:.2f}, NMS IoU {metadata.iou_threshold:.2f}",
    ]
    if metadata.namer:
        facts.append(
            f"**Second stage**: `{metadata.namer}`, a crop classifier that names every box found "
            "(the detector decides where, the classifier what; a runner-up is shown when it hesitates)"
        )
    if isinstance(detector.backend, TorchBackend):
        parameters = sum(p.numel() for p in detector.backend.model.parameters())
        facts.append(f"**Parameters**: {parameters / 1e6:.2f} M")
    chain = metadata.training.get("chain")
    command = metadata.training.get("command")
    if isinstance(chain, list) and chain:
        facts.append("**Made by**: " + " → ".join(f"`{step.get('command')}`" for step in chain))
    elif command:
        facts.append(f"**Trained with**: `{command}`")
    st.markdown("\n".join(f"- {fact}" for fact in facts))

    report = metadata.metrics.get("test")
    if not isinstance(report, dict):
        st.info(
            "These weights carry no test evaluation (untrained or random weights?). The trained model's "
            "metrics and plots appear here once `weights/yolov3-tiny.safetensors` is in place."
        )
    else:
        st.markdown(f"**Test split**: {report.get('images', '?')} synthetic canvases the model never saw.")
        metrics = headline_metrics(report)
        for row in range(0, len(metrics), 3):
            for column, (name, value) in zip(st.columns(3), metrics[row : row + 3], strict=False):
                column.metric(name, value)
        targets = target_rows(report)
        if targets:
            st.markdown("**Ship targets**")
            st.table(targets, hide_index=True, width="content")
        buckets = bucket_rows(report)
        if buckets:
            st.markdown("**Recall by object size and pen width** (found / named right)")
            st.table(buckets, hide_index=True, width="content")
        layouts = layout_rows(report)
        if layouts:
            st.markdown(
                "**Readings by canvas layout** (a number alone, several lines, objects strewn over the "
                "canvas, digits among words and doodles; a canvas counts as read when every digit on it is)"
            )
            st.table(layouts, hide_index=True, width="content")
        per_class = per_class_rows(report)
        if per_class:
            with st.expander("Average precision per class"):
                st.table(per_class, hide_index=True, width="content")

    plots_dir = Path(weights).parent / "eval"
    present = sorted(plots_dir.glob("*.png")) if plots_dir.is_dir() else []
    known = [plots_dir / name for name in EVAL_PLOTS if plots_dir / name in present]
    for plot in known + [p for p in present if p.name not in EVAL_PLOTS]:
        st.image(str(plot), caption=EVAL_PLOTS.get(plot.name, plot.stem.replace("_", " ")))


def render() -> None:
    """The "About" page."""
    st.title("How it works")
    st.markdown(
        "Every drawing goes through one path — the same one the command line, the evaluation and the "
        "training use. The Draw page keeps nothing: your drawing lives in your browser tab."
    )
    weights = weights_path()
    detector, problem = try_load_detector(weights)
    config = detector.metadata.model if detector else None
    st.graphviz_chart(
        pipeline_dot(config.name, config.input_size, detector.namer is not None)
        if config and detector
        else pipeline_dot(),
        width="stretch",
    )

    st.subheader("The 12 classes")
    st.table(_styled_classes(), hide_index=True, width="content")

    st.subheader("The model")
    if detector is None:
        st.error(problem)
    else:
        show_model(detector, weights)

    st.subheader("History")
    st.markdown(HISTORY)

    st.subheader("Make your own model")
    st.markdown("Data, training and evaluation run on a laptop's CPU; `docs/training.md` has the details.")
    st.code(COMMANDS, language="bash")

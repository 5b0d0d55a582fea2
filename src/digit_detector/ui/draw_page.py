"""The main page: draw on the canvas, see every object boxed, labelled and scored, and the number read."""

from __future__ import annotations

import functools
import html
import io
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from digit_detector.detector import DetectionResult, Detector
from digit_detector.render import class_colour
from digit_detector.ui.state import (
    BACKENDS,
    DRAWING_KEY,
    ServerBusy,
    backend_choices,
    backend_label,
    default_backend,
    inference_gate,
    try_load_detector,
    weights_path,
)

CANVAS_SIZE = 400
DEFAULT_PEN_WIDTH = 12
RESULT_SCALE = 2  # the result image is drawn at 2x and shown at canvas size: sharp on high-DPI screens
RESULT_JPEG_QUALITY = 90  # what st.image encodes RGB pictures with
MAX_TABLE_ROWS = 12
FRAME_COLOUR = (214, 214, 219)
EMPTY_PROMPT = "Draw a digit (or a few) on the canvas: every object gets a box, a label and a score."
BUSY_MESSAGE = "The detector is busy with other people's drawings: try again in a moment."
DOWNLOAD_NAME = "drawing"  # the downloads' file stem, and the image the JSON record names

# streamlit-drawable-canvas 0.13.0 keeps its toolbar (send, undo, redo, edit, reset) over the canvas's top
# right corner, invisible (opacity 0) until the pointer hovers the canvas, and slides it above the canvas only
# 0.1-0.2 s later: a stroke started in that strip (x 268-400, y 0-26 of 400) pressed the invisible toolbar
# and was lost, always on touch screens, which have no hover. The component isolates its styles in a shadow
# root, out of the app's CSS' reach, so :func:`register_canvas` registers it again with its own JS and CSS
# plus these rules: the toolbar always sits right above the canvas (its lower edge on the canvas's upper
# one, so the pointer goes from one to the other without leaving them; the canvas 0.75rem lower to make
# room below the pen slider), takes no pointer while hidden, and shows at all times on touch screens.
CANVAS_COMPONENT = "streamlit-drawable-canvas.streamlit_drawable_canvas"
_TOOLBAR_STATES = (
    ".dc-root:hover>.dc-toolbar,.dc-toolbar:hover,.dc-toolbar:focus-within,.dc-toolbar[data-pinned=true]"
)
CANVAS_TOOLBAR_CSS = (
    ".dc-root{margin-top:0.75rem}"
    f".dc-toolbar,{_TOOLBAR_STATES}{{top:auto;bottom:100%;padding:0 0 0 .5rem}}"
    ".dc-toolbar{pointer-events:none}"
    f"{_TOOLBAR_STATES}{{pointer-events:auto}}"
    "@media (hover:none){.dc-toolbar{opacity:1;pointer-events:auto}}"
)

NUMBER_STYLE = (
    "font-weight:700;line-height:1.1;letter-spacing:0.05em;font-variant-numeric:tabular-nums;"
    "margin:0 0 0.5rem 0;overflow-wrap:anywhere;max-height:10rem;overflow-y:auto"
)


def has_ink(image: NDArray[np.uint8] | None) -> bool:
    """True when the canvas holds a drawn pixel: visible (alpha > 0) and darker than the white paper."""
    if image is None or image.size == 0:
        return False
    if image.ndim == 3 and image.shape[2] == 4:
        if image[:, :, 3].min() > 0:  # the canvas's paper is opaque: one min over RGB (0.7 ms, not 4)
            return bool(image[:, :, :3].min() < 250)
        visible = image[:, :, 3] > 0
        return bool(np.any(visible & (image[:, :, :3].min(axis=2) < 250)))
    return bool(np.any(image < 250))


def result_image(image: NDArray[np.uint8], result: DetectionResult, scale: int = RESULT_SCALE) -> Image.Image:
    """The drawing as ``result.plot`` draws it (censored objects pixelated, every box labelled), enlarged
    ``scale`` times, in a frame like the canvas's."""
    picture = result.plot(image, scale=scale)
    ImageDraw.Draw(picture).rectangle(  # a frame like the canvas's, so the paper's edge shows
        [0, 0, picture.width - 1, picture.height - 1], outline=FRAME_COLOUR, width=scale
    )
    return picture


def detection_rows(result: DetectionResult, limit: int = MAX_TABLE_ROWS) -> list[dict[str, str]]:
    """The table rows for the best ``limit`` detections (best score first)."""
    return [
        {"label": d.shown_label, "score": f"{d.score:.2f}", "box": ", ".join(f"{v:.0f}" for v in d.box)}
        for d in result.detections[:limit]
    ]


def detections_html(result: DetectionResult, limit: int = MAX_TABLE_ROWS) -> str:
    """A small HTML table of the best ``limit`` detections, each label on its class colour."""
    cells = []
    for detection, row in zip(result.detections, detection_rows(result, limit), strict=False):
        red, green, blue = class_colour(detection.class_id)
        tag = (
            f'<span style="background:rgb({red},{green},{blue});color:white;font-weight:600;'
            f'padding:0.05rem 0.45rem;border-radius:0.3rem">{html.escape(row["label"])}</span>'
        )
        cells.append(f"<tr><td>{tag}</td><td>{row['score']}</td><td>{row['box']}</td></tr>")
    return (
        '<table class="dd-detections"><thead><tr><th>label</th><th>score</th>'
        f"<th>box (x1, y1, x2, y2)</th></tr></thead><tbody>{''.join(cells)}</tbody></table>"
    )


def png_bytes(picture: Image.Image) -> bytes:
    """``picture`` as a PNG, compressed lightly: fast to encode, still small for line art."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def jpeg_bytes(picture: Image.Image, quality: int = RESULT_JPEG_QUALITY) -> bytes:
    """``picture`` (RGB) as the JPEG the page shows: ``st.image`` turns any RGB picture into a JPEG of this
    quality anyway (it re-encoded the PNG it was given, 13 + 10 ms per stroke); 1 ms for 800x800."""
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def download_png(image: NDArray[np.uint8], result: DetectionResult) -> bytes:
    """The picture download: the annotated drawing as ``predict --save`` writes it."""
    return png_bytes(result.plot(image))


def detections_json(result: DetectionResult) -> str:
    """The detections download: the record ``predict --json`` prints for an image, indented."""
    return json.dumps(result.to_json(DOWNLOAD_NAME), indent=2)


def download_buttons(image: NDArray[np.uint8], result: DetectionResult) -> None:
    """The annotated picture (as ``predict --save`` writes it) and the detections JSON, to download;
    a click does not rerun the page. The picture is drawn and encoded only when its button is clicked
    (a deferred download: 6 ms of every stroke saved)."""
    picture, record = st.columns(2)
    picture.download_button(
        "Download picture (PNG)",
        functools.partial(download_png, image, result),
        file_name=f"{DOWNLOAD_NAME}.png",
        mime="image/png",
        on_click="ignore",
        icon=":material/download:",
    )
    record.download_button(
        "Download detections (JSON)",
        detections_json(result),
        file_name=f"{DOWNLOAD_NAME}.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
    )


def number_size_rem(number: str) -> float:
    """Large type for the number read, smaller as its longest line grows (a long read still fits)."""
    longest = max((len(line) for line in number.split("\n")), default=0)
    return 3.6 if longest <= 8 else 2.4 if longest <= 14 else 1.5


def number_html(number: str, strokes: int = 0) -> str:
    """The number read, in large type (one line per drawn line); a dash when no digit was found. It carries
    how many strokes the drawing it was read from holds (``data-strokes``), so a browser test or the probe
    waits for the read of its last stroke, not of one sent while it drew."""
    text = "<br>".join(html.escape(line) for line in number.split("\n")) if number else "—"
    size = number_size_rem(number)
    return (
        '<div style="font-size:0.875rem;opacity:0.7">Number read</div>'
        f'<div class="dd-number" data-strokes="{int(strokes)}" style="font-size:{size}rem;{NUMBER_STYLE}">'
        f"{text}</div>"
    )


def stroke_count(canvas_json: Mapping[str, Any] | None) -> int:
    """How many strokes a drawing holds (the canvas component's ``json_data``: one path per stroke)."""
    return len((canvas_json or {}).get("objects") or [])


def found_caption(
    found: int,
    ms: float,
    backend_name: str,
    threshold_label: str,
    score_threshold: float,
    guess: float | None,
) -> str:
    """The line under the result: model time and how many objects reach the threshold, or, for a best guess
    (``guess``: its value under the threshold; ``Detector.best_guess``), that nothing did."""
    timing = f"Model time **{ms:.0f} ms** ({backend_name}) · "
    if guess is not None:
        return (
            f"{timing}nothing at {threshold_label} ≥ {score_threshold:.2f}: the most likely box is shown "
            f"(best guess, {threshold_label} {guess:.2f})"
        )
    return f"{timing}{found} object{'s' if found != 1 else ''} at {threshold_label} ≥ {score_threshold:.2f}"


def threshold_name(detector: Detector) -> str:
    """What the threshold slider compares with: objectness when a namer names the boxes, else the score."""
    return "objectness" if detector.namer is not None else "score"


def show_result(
    image: NDArray[np.uint8] | None,
    detector: Detector | None,
    *,
    score_threshold: float,
    iou_threshold: float,
    suppress_contained: bool = True,
    backend_name: str = "torch",
    strokes: int = 0,
) -> DetectionResult | None:
    """Detect the objects in the drawing (of ``strokes`` strokes) and show them; an empty canvas only gets a
    prompt (no model call)."""
    if image is None or not has_ink(image):
        st.markdown(number_html(""), unsafe_allow_html=True)
        st.info(EMPTY_PROMPT, icon="✏️")
        return None
    if detector is None:
        return None
    st.session_state[DRAWING_KEY] = image  # the "Improve the model" page offers this drawing for correction
    try:
        with inference_gate().slot():  # a bounded wait for the model: "busy" past capacity, not a frozen page
            result = detector(
                image,
                score_threshold=score_threshold,
                iou_threshold=iou_threshold,
                suppress_contained=suppress_contained,
            )
            picture = jpeg_bytes(result_image(image, result))
    except ServerBusy:
        st.warning(BUSY_MESSAGE, icon="⏳")
        st.button("Try again", icon=":material/refresh:")  # reruns with the same drawing
        return None
    st.markdown(number_html(result.number, strokes), unsafe_allow_html=True)
    with st.container(width=CANVAS_SIZE):  # shown at canvas size, sent at RESULT_SCALE x for sharpness
        st.image(picture, output_format="JPEG", width="stretch")  # as it is: st.image re-encodes no JPEG
    found = len(result.detections)
    first = detector.threshold_value(result.detections[0]) if found == 1 else None
    guess = first if first is not None and first < score_threshold else None  # Detector.best_guess
    st.caption(
        found_caption(found, result.ms, backend_name, threshold_name(detector), score_threshold, guess)
    )
    if found:
        st.markdown(detections_html(result), unsafe_allow_html=True)
        if found > MAX_TABLE_ROWS:
            st.caption(f"… and {found - MAX_TABLE_ROWS} more with lower scores.")
    else:
        st.caption("Nothing found at this score threshold: lower it, or draw bigger.")
    download_buttons(image, result)
    return result


class _SameComponent(logging.Filter):
    """Drops Streamlit's warning that :data:`CANVAS_COMPONENT` is registered again: meant here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return CANVAS_COMPONENT not in record.getMessage()


@functools.cache
def register_canvas() -> None:
    """Register the drawable canvas again, as its package does, with :data:`CANVAS_TOOLBAR_CSS` after its
    own CSS (once per process; the canvas renders the component registered last under its name)."""
    import streamlit_drawable_canvas  # registers the component first, inside a Streamlit runtime

    build = Path(streamlit_drawable_canvas.__file__).parent / "frontend" / "build"
    (own_css,) = build.glob("index-*.css")
    registry_log = logging.getLogger("streamlit.components.v2.component_registry")
    quiet = _SameComponent()
    registry_log.addFilter(quiet)
    try:
        st.components.v2.component(
            CANVAS_COMPONENT,
            js="index-*.js",  # the package's script, served from its asset folder as before
            css=own_css.read_text(encoding="utf-8") + "\n" + CANVAS_TOOLBAR_CSS,
            html='<div class="canvas-root"></div>',
            isolate_styles=True,
        )
    finally:
        registry_log.removeFilter(quiet)


def pen_canvas(*, pen_key: str, canvas_key: str) -> Any:
    """The pen-width slider and the 400x400 white freehand canvas (black pen) the drawing pages share;
    returns the canvas component's result (``image_data`` is RGBA). Its toolbar sits above it (see
    :data:`CANVAS_TOOLBAR_CSS`): a stroke may start anywhere on the canvas."""
    from streamlit_drawable_canvas import st_canvas  # registers its component inside a Streamlit runtime

    register_canvas()
    pen_width = st.slider("Pen width", 3, 25, DEFAULT_PEN_WIDTH, key=pen_key)
    return st_canvas(
        stroke_width=pen_width,
        stroke_color="#000000",
        background_color="#FFFFFF",
        update_streamlit=True,
        height=CANVAS_SIZE,
        width=CANVAS_SIZE,
        drawing_mode="freedraw",
        return_image_data=True,
        key=canvas_key,
    )


def render() -> None:
    """The "Draw" page."""

    st.title("✍️ Handwritten digit detector")
    st.caption(
        "Draw digits with the mouse or a finger. A YOLOv3 detector boxes every object — the digits 0-9, "
        "`other` (letters, shapes) or `censored` (hidden) — and reads the number."
    )
    # No st.fragment around the canvas and result: a stroke would rerun only them, but it measured no
    # cheaper (server CPU per stroke 30.6-31.6 ms with it, 28.4-30.4 ms without: scripts/load_test.py).
    weights = weights_path()
    base_backend = default_backend(weights)  # $DIGIT_DETECTOR_BACKEND, else onnx where its export is there
    detector, problem = try_load_detector(weights, base_backend)
    default_score = round(detector.score_threshold, 2) if detector else 0.5
    default_iou = round(detector.iou_threshold, 2) if detector else 0.45

    left, right = st.columns(2, gap="large")
    with left:
        canvas = pen_canvas(pen_key="pen_width", canvas_key="canvas")
        score = st.slider(
            "Score threshold",
            0.0,
            1.0,
            default_score,
            0.01,
            key="score_threshold",
            help="Objects scoring below this are not shown; with a second stage (crop classifier) the "
            "threshold applies to objectness (is something drawn here?) and the classifier names every "
            "box found, '4 or 9' when it hesitates. A drawing with nothing over the threshold still shows "
            "its most likely box when the weights set a best-guess floor. Thresholds come with the weights.",
        )
        with st.expander("Advanced"):
            iou = st.slider(
                "NMS IoU threshold",
                0.05,
                0.95,
                default_iou,
                0.05,
                key="iou_threshold",
                help="Of two boxes overlapping more than this, only the better one is kept.",
            )
            suppress_contained = st.checkbox(
                "Hide boxes inside a larger box",
                value=True,
                key="suppress_contained",
                help="A stroke of a digit read as a digit of its own (the stem of a 4 as a 1) is dropped "
                "when most of its box lies inside a larger box; a box around two or more surer digits (a "
                "number also read as one `other`) or around a surer copy of itself is dropped instead, and a "
                "sure digit that a too wide box only reaches into stays beside it. The weights' keep rule, "
                "learnt from drawings, keeps a box it takes for a whole digit pressed against its "
                "neighbour. The threshold and the rule come with the weights.",
                disabled=detector is None or detector.containment_threshold is None,
            )
            choices = backend_choices()
            backend_name = st.radio(
                "Backend",
                choices,
                index=choices.index(backend_label(base_backend)),
                horizontal=True,
                key="backend",
                help="PyTorch, or the ONNX export run by onnxruntime (same results, often faster).",
            )
    with right:
        if problem is not None:
            st.error(problem)
            detector = None
        elif BACKENDS[backend_name] != base_backend:
            chosen, backend_problem = try_load_detector(weights, BACKENDS[backend_name])
            if chosen is None:
                st.warning(f"{backend_problem} Using {backend_label(base_backend)} instead.")
                backend_name = backend_label(base_backend)
            else:
                detector = chosen
        show_result(
            canvas.image_data,
            detector,
            score_threshold=score,
            iou_threshold=iou,
            suppress_contained=suppress_contained,
            backend_name=backend_name,
            strokes=stroke_count(canvas.json_data),
        )

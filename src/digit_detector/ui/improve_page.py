"""The "Improve the model" page: correct the detector's boxes on a drawing and share it, only with consent.

Flow: take a drawing (the Draw page's, or draw one here) -> the model's boxes pre-fill a box editor
(streamlit-drawable-canvas, ``drawing_mode="labeled_rect"`` over the drawing; the class name is each box's
label, and its stroke has the class colour) -> the person moves, resizes, deletes, adds and relabels boxes
-> only after ticking :data:`CONSENT_TEXT` *and* pressing "Send" is the sample stored
(:func:`digit_detector.feedback.store_from_config`). Nothing is stored otherwise (:func:`submit_feedback`).
The consent is for *this* drawing: the tick clears once it is shared and when another drawing comes (the
checkbox gets a new key, :func:`_consent_key`), so the next drawing needs its own tick.

Seams for ``app.py`` and the other pages:

- ``st.session_state["last_drawing"]`` (:data:`DRAWING_KEY`): the Draw page's latest drawing, as the canvas
  returns it: a numpy uint8 array HxWx4 (RGBA, transparent = paper) or HxWx3 (RGB); absent or None when
  there is none. This page only reads it.
- :func:`get_detector`: the app's cached detector, ``ui.state.try_load_detector(ui.state.weights_path())``.
- :func:`feedback_store`: the store from ``st.secrets["feedback"]`` (when present) and the environment;
  :func:`sharing_is_temporary`: whether that store is a folder lost when the Space (or app) restarts, which
  the page then says before and after sharing.

A store's errors never reach the page (they may name the endpoint, bucket or credentials in a URL): the
page shows :data:`UNAVAILABLE_TEXT`, and the details go to the server log with URLs redacted.

Session-state keys this page owns all start with ``improve_``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray
from PIL import Image
from streamlit.errors import StreamlitSecretNotFoundError

from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.data.coco import class_id_for_name
from digit_detector.detector import Detector
from digit_detector.feedback import (
    FeedbackError,
    FeedbackSample,
    FeedbackStore,
    Prediction,
    on_space,
    redact,
    store_from_config,
)
from digit_detector.feedback import sharing_is_temporary as _sharing_is_temporary
from digit_detector.render import class_colour, draw_boxes
from digit_detector.ui.state import DRAWING_KEY, try_load_detector, weights_path

CONSENT_TEXT = "I agree that this drawing and its labels are stored to improve the model"
CANVAS_SIZE = 400
DEFAULT_PEN_WIDTH = 12
MIN_BOX_PX = 2.0
BOX_STROKE_WIDTH = 2
SECRETS_SECTION = "feedback"
UNAVAILABLE_TEXT = "Sharing is not available right now; nothing was stored."
_STATE = "improve_"
_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditedBox:
    """A box in the editor: its label as on the canvas, our class id (None: not a class name), pixels."""

    label: str
    class_id: int | None
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


@dataclass(frozen=True)
class SubmitOutcome:
    """What pressing "Send" did: stored (with the sample id) or not, and the message for the person."""

    stored: bool
    message: str
    sample_id: str | None = None


# --------------------------------------------------------------------------- pure helpers


def colour_hex(class_id: int) -> str:
    """The class colour of :mod:`digit_detector.render` as ``#rrggbb``."""
    red, green, blue = class_colour(class_id)
    return f"#{red:02x}{green:02x}{blue:02x}"


def _class_from_colour(colour: Any) -> int | None:
    """The class whose colour a stroke has (``#rrggbb`` or ``rgb[a](r, g, b[, a])``), else None."""
    text = str(colour or "").strip().lower()
    match = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,[^)]*)?\)", text)
    if match:
        text = "#" + "".join(f"{int(v):02x}" for v in match.groups())
    for class_id in range(NUM_CLASSES):
        if text == colour_hex(class_id):
            return class_id
    return None


def edited_boxes_from_predictions(predictions: Sequence[Any]) -> list[EditedBox]:
    """Editor boxes for the model's detections (anything with ``class_id`` and ``box``)."""
    boxes = []
    for prediction in predictions:
        class_id = int(prediction.class_id)
        x1, y1, x2, y2 = (float(v) for v in prediction.box)
        boxes.append(EditedBox(CLASS_NAMES[class_id], class_id, (x1, y1, x2, y2)))
    return boxes


def drawing_from_boxes(boxes: Sequence[EditedBox], scale: float = 1.0) -> dict[str, Any]:
    """A fabric.js drawing (``initial_drawing``) with one labelled rectangle per box, in canvas pixels."""
    objects = []
    for edited in boxes:
        x1, y1, x2, y2 = (v * scale for v in edited.box)
        red, green, blue = class_colour(edited.class_id) if edited.class_id is not None else (0, 0, 0)
        objects.append(
            {
                "type": "LabeledRect",
                "label": edited.label,
                "left": x1,
                "top": y1,
                "width": x2 - x1,
                "height": y2 - y1,
                "originX": "left",
                "originY": "top",
                "scaleX": 1,
                "scaleY": 1,
                "angle": 0,
                "stroke": f"#{red:02x}{green:02x}{blue:02x}",
                "strokeWidth": BOX_STROKE_WIDTH,
                "strokeUniform": True,
                "fill": f"rgba({red}, {green}, {blue}, 0.08)",
                "lockRotation": True,
            }
        )
    return {"objects": objects}


def initial_drawing_from_detections(detections: Sequence[Any], scale: float = 1.0) -> dict[str, Any]:
    """The editor's starting drawing: the model's boxes, labelled with their class names."""
    return drawing_from_boxes(edited_boxes_from_predictions(detections), scale)


def boxes_from_canvas_json(
    json_data: Mapping[str, Any] | None, image_size: tuple[int, int], scale: float = 1.0
) -> list[EditedBox]:
    """The rectangles of a canvas drawing as boxes in image pixels (clipped; specks dropped).

    ``LabeledRect`` objects take their class from the label (a class name), plain ``rect`` objects from
    the class colour of their stroke; ``class_id`` is None when neither names a class.
    """
    width, height = image_size
    boxes = []
    for obj in (json_data or {}).get("objects", []) or []:
        kind = str(obj.get("type", "")).lower()
        if kind not in ("rect", "labeledrect"):
            continue
        box_w = float(obj.get("width", 0)) * float(obj.get("scaleX", 1))
        box_h = float(obj.get("height", 0)) * float(obj.get("scaleY", 1))
        left = float(obj.get("left", 0)) - _ORIGIN.get(str(obj.get("originX", "left")), 0.0) * box_w
        top = float(obj.get("top", 0)) - _ORIGIN.get(str(obj.get("originY", "top")), 0.0) * box_h
        x1, x2 = sorted((left / scale, (left + box_w) / scale))
        y1, y2 = sorted((top / scale, (top + box_h) / scale))
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
            continue
        label = str(obj.get("label") or "").strip()
        class_id = class_id_for_name(label) if label else _class_from_colour(obj.get("stroke"))
        if class_id is not None and not label:
            label = CLASS_NAMES[class_id]
        boxes.append(EditedBox(label, class_id, (x1, y1, x2, y2)))
    return boxes


def build_sample(
    image: NDArray[np.uint8],
    boxes: Sequence[EditedBox],
    predictions: Sequence[Prediction],
    model_version: str,
    note: str | None = None,
) -> FeedbackSample:
    """The sample to store; ValueError naming the box when one has no class."""
    unnamed = [str(i + 1) for i, b in enumerate(boxes) if b.class_id is None]
    if unnamed:
        raise ValueError(f"Choose a class for box {', '.join(unnamed)} first.")
    return FeedbackSample(
        image=image,
        boxes_xyxy=np.array([b.box for b in boxes], dtype=np.float64).reshape(-1, 4),
        class_ids=np.array([b.class_id for b in boxes], dtype=np.int64),
        predictions=tuple(predictions),
        model_version=model_version,
        note=(note or "").strip() or None,
    )


def submit_feedback(
    consent: bool,
    make_sample: Callable[[], FeedbackSample],
    make_store: Callable[[], FeedbackStore],
) -> SubmitOutcome:
    """The consent gate: without ``consent is True`` nothing is built, no store is made, nothing saved."""
    if consent is not True:
        return SubmitOutcome(False, f"Nothing was stored: tick “{CONSENT_TEXT}” first to send this drawing.")
    try:
        sample = make_sample()
    except ValueError as error:
        return SubmitOutcome(False, f"Nothing was stored: {error}")
    retry = "Your drawing and boxes are still here: try again later."
    try:
        store = make_store()
        sample_id = store.save(sample)
    except FeedbackError as error:  # nothing was stored (a store's promise); the details are for the log
        log.warning("Sharing a drawing failed: %s", redact(str(error)))
        return SubmitOutcome(False, f"{UNAVAILABLE_TEXT} {retry}")
    except Exception as error:  # not a store's own failure: its text may name the endpoint too
        details = redact("".join(traceback.format_exception(error)))
        log.error("Sharing a drawing failed unexpectedly: %s", details)
        return SubmitOutcome(False, f"Sharing is not available right now. {retry}")
    if getattr(store, "durable", True) is False:
        return SubmitOutcome(
            True,
            f"Thank you! Kept as sample `{sample_id}`, but only until this {_host()} restarts: "
            f"this {_host()} has no lasting storage for shared drawings.",
            sample_id,
        )
    return SubmitOutcome(True, f"Thank you! Stored as sample `{sample_id}`.", sample_id)


def _host() -> str:
    return "Space" if on_space() else "app"


def temporary_notice() -> str:
    """What the page says before sharing when shared drawings are lost on a restart."""
    return (
        f"This {_host()} has no lasting storage for shared drawings: a drawing you share here stays only "
        f"until the {_host()} restarts, then it is gone."
    )


def has_ink(rgb: NDArray[np.uint8]) -> bool:
    """True when an RGB drawing has a pixel darker than the white paper."""
    return bool(rgb.size) and bool((rgb.min(axis=2) < 250).any())


def image_digest(rgb: NDArray[np.uint8]) -> str:
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes() + str(rgb.shape).encode()).hexdigest()


# --------------------------------------------------------------------------- seams


def get_detector() -> tuple[Detector | None, str | None]:
    """``(detector, None)`` or ``(None, why)``: the app's shared, cached detector (the app's backend)."""
    return try_load_detector(weights_path())


def feedback_config() -> dict[str, Any] | None:
    """The ``[feedback]`` section of ``st.secrets``, or None when there are no secrets / no section."""
    try:
        section = st.secrets.get(SECRETS_SECTION)
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return None
    return dict(section) if isinstance(section, Mapping) else None


def feedback_store() -> FeedbackStore:
    """Where "Send" stores samples (see :func:`digit_detector.feedback.store_from_config`)."""
    return store_from_config(feedback_config())


def sharing_is_temporary() -> bool:
    """True when :func:`feedback_store` is a local folder lost on a restart (a Space's own disk)."""
    return _sharing_is_temporary(feedback_config())


# --------------------------------------------------------------------------- page


def _shared_drawing() -> NDArray[np.uint8] | None:
    from digit_detector.preprocess import ImageInputError, to_rgb

    shared = st.session_state.get(DRAWING_KEY)
    if shared is None:
        return None
    try:
        rgb = to_rgb(np.asarray(shared))
    except ImageInputError:
        return None
    return rgb if has_ink(rgb) else None


def _choose_drawing() -> NDArray[np.uint8] | None:
    """The drawing to label: the Draw page's, or one drawn here (RGB on white); None when empty."""
    from streamlit_drawable_canvas import st_canvas

    from digit_detector.preprocess import to_rgb

    shared = _shared_drawing()
    if shared is not None:
        choice = st.radio(
            "Drawing",
            ["My drawing from the Draw page", "Draw a new one here"],
            horizontal=True,
            key=f"{_STATE}source",
        )
        if choice.startswith("My drawing"):
            return shared
    area, _ = st.columns(2, gap="large")
    with area:
        pen_width = st.slider("Pen width", 3, 25, DEFAULT_PEN_WIDTH, key=f"{_STATE}pen_width")
        canvas = st_canvas(
            stroke_width=pen_width,
            stroke_color="#000000",
            background_color="#FFFFFF",
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            return_image_data=True,
            key=f"{_STATE}draw",
        )
    if canvas.image_data is None:
        return None
    rgb = to_rgb(canvas.image_data)
    return rgb if has_ink(rgb) else None


def _reset_editor(boxes: list[EditedBox]) -> None:
    """Load ``boxes`` into a fresh box editor (a new canvas key, so the canvas starts from them)."""
    st.session_state[f"{_STATE}base"] = boxes
    st.session_state[f"{_STATE}rev"] = st.session_state.get(f"{_STATE}rev", 0) + 1


def _relabel(boxes: list[EditedBox], index: int, widget_key: str) -> None:
    name = st.session_state[widget_key]
    if name is None:
        return
    changed = list(boxes)
    changed[index] = replace(boxes[index], label=name, class_id=CLASS_NAMES.index(name))
    _reset_editor(changed)


def _delete(boxes: list[EditedBox], index: int) -> None:
    _reset_editor([b for i, b in enumerate(boxes) if i != index])


def _consent_key() -> str:
    """The consent checkbox's key: a new one (so an unticked box) per drawing and after each share."""
    return f"{_STATE}consent_{st.session_state.get(f'{_STATE}consent_rev', 0)}"


def _reset_consent() -> None:
    st.session_state[f"{_STATE}consent_rev"] = st.session_state.get(f"{_STATE}consent_rev", 0) + 1


def _detect(rgb: NDArray[np.uint8]) -> bool:
    """Run the model once per drawing and load its boxes into the editor; False when it cannot run."""
    digest = image_digest(rgb)
    if st.session_state.get(f"{_STATE}digest") == digest:
        return True
    detector, problem = get_detector()
    if detector is None:
        st.error(problem or "The model could not be loaded.")
        return False
    result = detector(rgb)
    predictions = [Prediction.from_detection(d) for d in result.detections]
    st.session_state[f"{_STATE}digest"] = digest
    st.session_state[f"{_STATE}predictions"] = predictions
    st.session_state[f"{_STATE}model_version"] = str(detector.metadata.version)
    st.session_state[f"{_STATE}sent"] = None
    _reset_consent()  # a new drawing: the consent given for the last one does not carry over
    _reset_editor(edited_boxes_from_predictions(predictions))
    return True


def _box_list(rgb: NDArray[np.uint8], boxes: list[EditedBox], rev: int) -> None:
    """One row per box: a crop, a class selectbox (relabel) and a delete button."""
    if not boxes:
        st.info("No boxes. Draw one around each object, or send the drawing as having none.")
    for index, edited in enumerate(boxes):
        x1, y1, x2, y2 = edited.box
        thumb, choose, remove = st.columns([1, 4, 2], vertical_alignment="center")
        crop = Image.fromarray(rgb).crop(
            (int(x1), int(y1), max(int(x1) + 1, int(x2)), max(int(y1) + 1, int(y2)))
        )
        crop.thumbnail((56, 56))
        thumb.image(crop)
        key = f"{_STATE}label_{rev}_{index}_{edited.label}"
        choose.selectbox(
            f"Box {index + 1} ({x2 - x1:.0f}x{y2 - y1:.0f} px at {x1:.0f}, {y1:.0f})",
            CLASS_NAMES,
            index=edited.class_id,
            placeholder=f"{edited.label!r} is not a class: choose one",
            key=key,
            on_change=_relabel,
            args=(boxes, index, key),
        )
        remove.button("Delete", key=f"{_STATE}delete_{rev}_{index}", on_click=_delete, args=(boxes, index))


def render() -> None:
    """The "Improve the model" page."""
    from streamlit_drawable_canvas import st_canvas

    st.title("🎯 Improve the model")
    st.caption(
        "Correct the model's boxes on your drawing and, if you want to, share it: shared drawings become "
        "training data. Nothing is stored unless you tick the consent box and press Send."
    )
    rgb = _choose_drawing()
    if rgb is None:
        st.info("Draw something (here or on the Draw page) to see the model's boxes and correct them.")
        return
    if not _detect(rgb):
        return
    predictions: list[Prediction] = st.session_state[f"{_STATE}predictions"]
    height, width = rgb.shape[:2]
    scale = CANVAS_SIZE / max(width, height)
    canvas_w, canvas_h = round(width * scale), round(height * scale)
    rev: int = st.session_state.get(f"{_STATE}rev", 0)
    base: list[EditedBox] = st.session_state.get(f"{_STATE}base", [])

    editor, side = st.columns(2, gap="large")
    with editor:
        st.subheader("Correct the boxes")
        new_class = st.selectbox("Class of new boxes", CLASS_NAMES, key=f"{_STATE}new_class")
        new_id = CLASS_NAMES.index(new_class)
        canvas = st_canvas(
            fill_color="rgba({}, {}, {}, 0.08)".format(*class_colour(new_id)),
            stroke_width=BOX_STROKE_WIDTH,
            stroke_color=colour_hex(new_id),
            background_image=Image.fromarray(rgb).resize((canvas_w, canvas_h), Image.Resampling.LANCZOS),
            drawing_mode="labeled_rect",
            label=new_class,
            initial_drawing=drawing_from_boxes(base, scale),
            width=canvas_w,
            height=canvas_h,
            font_size=14,
            key=f"{_STATE}editor_{rev}",
        )
        st.caption(
            "Drag to add a box of the chosen class. Turn on the toolbar's edit toggle to move, resize or "
            "delete boxes; or relabel and delete them in the list."
        )
        boxes = boxes_from_canvas_json(canvas.json_data, (width, height), scale)
        with st.expander("What the model found"):
            st.image(
                draw_boxes(
                    Image.fromarray(rgb),
                    [p.box for p in predictions],
                    [p.class_id for p in predictions],
                    [p.score for p in predictions],
                ),
                width=canvas_w,
            )
            if not predictions:
                st.write("Nothing.")
    with side:
        st.subheader(f"Boxes ({len(boxes)})")
        _box_list(rgb, boxes, rev)
        st.button(
            "Reset to the model's boxes",
            key=f"{_STATE}reset",
            on_click=_reset_editor,
            args=(edited_boxes_from_predictions(predictions),),
        )
        st.divider()
        if sharing_is_temporary():
            st.warning(temporary_notice(), icon=":material/hourglass_bottom:")
        note = st.text_input("Note (optional)", key=f"{_STATE}note", max_chars=300)
        consent = st.checkbox(CONSENT_TEXT, key=_consent_key())
        st.caption(
            "Stored: the drawing, your boxes and classes, the model's boxes, its version, the time and "
            "your note. Nothing about you (no account, no address)."
        )
        stored_message = st.session_state.pop(f"{_STATE}stored_message", None)
        if stored_message:
            st.success(stored_message)
        if st.button("Send", type="primary", key=f"{_STATE}send"):
            fingerprint = (st.session_state[f"{_STATE}digest"], tuple(boxes), note)
            sent = st.session_state.get(f"{_STATE}sent")
            if consent and sent is not None and sent[0] == fingerprint:
                st.info(f"Already sent as sample `{sent[1]}`.")
                return
            outcome = submit_feedback(
                consent,
                lambda: build_sample(
                    rgb, boxes, predictions, st.session_state[f"{_STATE}model_version"], note
                ),
                feedback_store,
            )
            if outcome.stored:
                st.session_state[f"{_STATE}sent"] = (fingerprint, outcome.sample_id)
                st.session_state[f"{_STATE}stored_message"] = outcome.message
                _reset_consent()
                st.rerun()  # draw the consent box afresh, unticked; the message is shown below
            elif consent:
                st.error(outcome.message)
            else:
                st.warning(outcome.message)

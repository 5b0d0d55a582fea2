"""The "Your style" page: draw one digit, see all ten digits in your hand, updated after every stroke.

UI only: finding the digit, cropping it and the style analogies are :mod:`digit_detector.style`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch
from numpy.typing import NDArray

from digit_detector.detector import Detector
from digit_detector.style.analogy import NoDigitError, StyleRow, ink_tile, style_row
from digit_detector.style.crops import NoInkError
from digit_detector.style.model import StyleCVAE, default_style_weights_path, load_style_model, style_strength
from digit_detector.ui.draw_page import has_ink, pen_canvas, png_bytes
from digit_detector.ui.state import INFERENCE_THREADS, try_load_detector, weights_path
from digit_detector.weights import WeightsError

STYLE_PROMPT = "Draw one digit on the canvas: all ten digits appear here in your handwriting."
AUTO_LABEL = "detect"
LABEL_CHOICES = [AUTO_LABEL, *(str(d) for d in range(10))]
# Each generated digit's ink spans 28/32 of its tile: 152 px tiles show digits ~133 px tall, a third of the
# 400 px canvas, in two lines of five (784 px wide, shown at that size, not shrunk to a column).
ROW_TILE = 152
ROW_PER_LINE = 5
INPUT_TILE = 192


def style_weights_path() -> str:
    """``$DIGIT_DETECTOR_STYLE_WEIGHTS``, else ``weights/style-cvae.safetensors``."""
    return str(default_style_weights_path())


@st.cache_resource(show_spinner="Loading the style model ...", max_entries=2)
def load_style(weights: str) -> tuple[StyleCVAE, float]:
    """The style CVAE for ``weights`` and its default style strength, loaded once per process and shared
    by all sessions."""
    torch.set_num_threads(INFERENCE_THREADS)
    model, record = load_style_model(weights)
    return model, style_strength(record)


def try_load_style(weights: str) -> tuple[tuple[StyleCVAE, float] | None, str | None]:
    """``((model, default strength), None)``, or ``(None, why)`` in one sentence."""
    try:
        return load_style(weights), None
    except WeightsError as error:
        return None, str(error)


def show_style(
    image: NDArray[np.uint8] | None,
    model: StyleCVAE,
    detector: Detector | None,
    label: int | None,
    strength: float = 1.0,
) -> StyleRow | None:
    """The ten digits in the drawing's style; a prompt for an empty canvas, a hint when no digit is found."""
    if image is None or not has_ink(image):
        st.info(STYLE_PROMPT, icon="✏️")
        return None
    try:
        row = style_row(model, image, detector, label, strength=strength)
    except NoDigitError:
        st.warning("No digit found in your drawing: draw one digit larger, or pick the digit you drew.")
        return None
    except NoInkError as error:
        st.info(str(error), icon="✏️")
        return None
    how = "you picked" if row.label_source == "given" else "detected"
    score = (
        f", score {row.detection.score:.2f}"
        if row.detection is not None and row.label_source != "given"
        else ""
    )
    st.markdown(f"Your digit: **{row.label}** ({how}{score}). All ten in your style:")
    picture = row.image(ROW_TILE, per_line=ROW_PER_LINE)
    data = png_bytes(picture)
    st.image(data, width=picture.width)
    st.download_button(
        "Download the row (PNG)",
        data,
        file_name=f"my-digits-from-a-{row.label}.png",
        mime="image/png",
        icon=":material/download:",
        key="style_row_download",
        on_click="ignore",
    )
    return row


def render() -> None:
    """The "Your style" page."""
    st.title("✍️ Your style")
    st.caption(
        "Draw one digit. A conditional VAE takes its style — slant, stroke width, shape — from your digit "
        "and draws all ten digits with it."
    )
    detector, problem = try_load_detector(weights_path())
    loaded, style_problem = try_load_style(style_weights_path())
    left, right = st.columns(2, gap="large")
    with left:
        canvas = pen_canvas(pen_key="style_pen_width", canvas_key="style_canvas")
    with right:
        choice = st.selectbox(
            "Digit",
            LABEL_CHOICES,
            key="style_label",
            help="Which digit you drew: detected by the model, or pick it yourself.",
        )
        label = None if choice == AUTO_LABEL else int(choice)
        default_strength = loaded[1] if loaded is not None else 1.0
        strength = st.slider(
            "Style strength",
            0.0,
            1.0,
            round(default_strength, 2),
            0.05,
            key="style_strength",
            help="1 copies your style fully; lower values move towards the average hand, which keeps "
            "unusual styles readable. The default was chosen on validation digits.",
        )
        if problem is not None:
            st.warning(f"{problem} Pick the digit you drew.")
        if style_problem is not None:
            st.error(style_problem)
            return
    assert loaded is not None
    row = show_style(canvas.image_data, loaded[0], detector, label, strength)  # full width: large digits
    if row is not None:
        with st.expander("What the model sees"):
            st.image(png_bytes(ink_tile(row.crop, INPUT_TILE)), width=INPUT_TILE)

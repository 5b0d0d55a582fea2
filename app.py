"""Streamlit entry point (UI only): draw on the canvas, see what the detector finds.

The full app (result rendering, censoring, pages) arrives with the app issue; this page already runs the
library's one inference path on the drawing.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Hugging Face Spaces installs requirements.txt only, not this package: import it from src/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from digit_detector import Detector
from digit_detector.weights import DEFAULT_WEIGHTS, WeightsError


@st.cache_resource
def load_detector() -> Detector:
    return Detector.from_weights(DEFAULT_WEIGHTS, device="cpu")


st.set_page_config(page_title="Handwritten digit detector", page_icon="✍️")
st.title("Handwritten digit detector")
canvas = st_canvas(
    stroke_width=12, stroke_color="#000000", background_color="#FFFFFF", height=400, width=400, key="canvas"
)
image = canvas.image_data
if image is None or not np.any(image[:, :, 3] > 0):
    st.info("Draw digits on the canvas: each one gets a box and a label.")
else:
    try:
        detector = load_detector()
    except WeightsError as error:
        st.error(str(error))
    else:
        result = detector(image)
        st.metric("Number", result.number or "—")
        rows = [{"label": d.label, "score": round(d.score, 3), "box": d.box} for d in result.detections]
        st.dataframe(rows)
        st.caption(f"model time {result.ms:.1f} ms")

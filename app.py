"""Streamlit entry point (UI only): the pages live in ``digit_detector.ui`` and are wired here.

Run it with ``streamlit run app.py``; ``$DIGIT_DETECTOR_WEIGHTS`` picks other weights than
``weights/yolov3-tiny.safetensors``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Hugging Face Spaces installs requirements.txt only, not this package: import it from src/.
SRC = str(Path(__file__).resolve().parent / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import streamlit as st  # noqa: E402

from digit_detector.ui import about_page, draw_page, improve_page  # noqa: E402
from digit_detector.ui.state import torch_installed  # noqa: E402


def style() -> None:
    """The "Your style" page, imported when it is first shown: its model is a PyTorch CVAE, and the other
    pages need no torch with the onnx backend."""
    from digit_detector.ui import style_page

    style_page.render()


def pages() -> list[st.Page]:
    """The app's pages: Draw (default), Your style, About and Improve the model; an onnxruntime-only
    deployment (requirements-onnx.txt, no torch) leaves out "Your style"."""
    style_pages = [st.Page(style, title="Your style", icon=":material/gesture:", url_path="style")]
    return [
        st.Page(draw_page.render, title="Draw", icon=":material/draw:", url_path="draw", default=True),
        *(style_pages if torch_installed() else []),
        st.Page(about_page.render, title="About", icon=":material/info:", url_path="about"),
        st.Page(
            improve_page.render,
            title="Improve the model",
            icon=":material/model_training:",
            url_path="improve",
        ),
    ]


st.set_page_config(page_title="Handwritten digit detector", page_icon="✍️", layout="wide")
st.navigation(pages(), position="top").run()

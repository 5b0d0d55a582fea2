"""The Streamlit app's pages and shared state (UI only: all inference goes through ``Detector``).

``app.py`` at the repository root wires the pages with ``st.navigation``:
:mod:`~digit_detector.ui.draw_page` (default), :mod:`~digit_detector.ui.about_page` and, when present,
``digit_detector.ui.improve_page``.
"""

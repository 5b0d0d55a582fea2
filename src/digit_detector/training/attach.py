"""Shippable weights from a detector and a namer (``python -m digit_detector namer attach``).

Both files go side by side in the output folder, the detector's metadata naming the namer; the thresholds
are chosen on the val split with the namer in the loop, the test split's report is recorded in the
metadata (``metrics.test``) and written beside it (``eval/``), and so is the chain of commands that made
them (``training.chain``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from digit_detector.data.yolo_format import load_split, split_breakdowns
from digit_detector.detector import Detector, check_threshold
from digit_detector.evaluation.files import save_report
from digit_detector.evaluation.scoring import evaluate
from digit_detector.evaluation.thresholds import choose_thresholds
from digit_detector.naming import load_namer
from digit_detector.second_stage import TorchNamer
from digit_detector.torch_backend import TorchBackend
from digit_detector.training.namer import save_namer
from digit_detector.weights import load_weights, save_weights


def namer_steps(training: dict[str, Any]) -> list[dict[str, Any]]:
    """The commands that made a namer, first to last, from its record's ``training``: the run it was
    fine-tuned from (``init``, recorded by ``namer train --init``) before its own, an ensemble's members
    before the combine; a run that learnt from found boxes names the weights versions that found them."""
    members = training.get("members", [])
    init = [training["init"]] if training.get("init") else []
    earlier = [step for part in [*init, *members] for step in namer_steps(part)]
    if not training.get("command"):
        return earlier
    command = training["command"]
    if training.get("proposals"):  # the weights that found its boxes, whatever the paths hold later
        command += f"  # boxes found by {', '.join(training['proposals'])}"
    return [*earlier, {"stage": "combine" if members else "namer", "command": command}]


def attach_namer(
    detector_weights: Path,
    namer_weights: Path,
    data: Path,
    out: Path,
    *,
    command: str,
    version: str | None = None,
    thresholds: tuple[float, float] | None = None,
) -> tuple[Path, Path]:
    """Write ``out/<detector name>`` and ``out/<detector stem>.namer.safetensors`` (see the module
    docstring); ``command`` is recorded as the chain's last step, ``version`` defaults to the detector's
    ``+namer``; ``thresholds`` (objectness, containment) replace the ones the reading rule would choose on
    validation. Prints the thresholds and the test summary as it goes; returns both paths.
    Raises :class:`~digit_detector.weights.WeightsError` when either file cannot be loaded, ``ValueError``
    for a threshold outside 0-1."""
    for value in thresholds or ():
        check_threshold("threshold", value)
    detector_weights = Path(detector_weights)
    model, metadata = load_weights(detector_weights)
    namer, namer_record = load_namer(namer_weights)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    namer_path = out / f"{detector_weights.stem}.namer.safetensors"
    save_namer(namer, namer_record, namer_path)
    chain = list(metadata.training.get("chain", [])) or [
        {"stage": "detector", "version": metadata.version, "command": metadata.training.get("command")}
    ]
    known = {step.get("command") for step in chain}
    chain.extend(
        step for step in namer_steps(namer_record.get("training", {})) if step["command"] not in known
    )
    chain.append({"stage": "attach", "command": command})
    metadata.training["chain"] = chain
    metadata.namer = namer_path.name
    metadata.version = version or f"{metadata.version}+namer"
    metadata.metrics = {}
    detector = Detector(
        TorchBackend(model, torch.device("cpu")), metadata, namer=TorchNamer(namer, torch.device("cpu"))
    )
    if thresholds is None:
        val = load_split(data, "val").samples
        metadata.score_threshold, metadata.containment_threshold = choose_thresholds(
            detector, val, progress=True
        )
        print(f"chosen on {len(val)} validation images:", end=" ")
    else:
        metadata.score_threshold, metadata.containment_threshold = thresholds
        detector.score_threshold, detector.containment_threshold = thresholds
    print(
        f"objectness threshold {metadata.score_threshold:.2f}, "
        f"containment threshold {metadata.containment_threshold}"
    )
    test = load_split(data, "test").samples
    if test:
        report = evaluate(
            detector,
            test,
            **split_breakdowns(data, "test"),
        )
        save_report(report, out / "eval")
        metadata.metrics["test"] = report.to_dict()
        print("\n".join(report.summary_lines()))
    weights = save_weights(model, metadata, out / detector_weights.name)
    return weights, namer_path

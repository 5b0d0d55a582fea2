"""Choose the crisp re-inking's hysteresis level on validation digits: readability per class by the
shipped detector, and the slant/thickness correlations, for each low level (the high level stays
CRISP_LEVEL; low = high is a single threshold).

    python experiments/crisp_levels.py --n 200 --lows 0.25 0.15 0.1 0.05
"""

from __future__ import annotations

import argparse
import json

import torch

from digit_detector.detector import Detector
from digit_detector.style import analogy
from digit_detector.style.crops import DEFAULT_DATA, VAL_SEED, load_or_make_crops
from digit_detector.style.evaluate import evaluate
from digit_detector.style.model import default_style_weights_path, load_style_model, style_strength


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="validation digits (default 200)")
    parser.add_argument("--lows", type=float, nargs="+", default=[0.25, 0.15, 0.1, 0.05])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, record = load_style_model(default_style_weights_path())
    detector = Detector.from_weights(None, device="cpu")
    crops = load_or_make_crops(DEFAULT_DATA, "val", args.n, VAL_SEED)
    for low in args.lows:
        analogy.CRISP_LOW = low  # the module constant crisp_ink reads, for every digit alike
        analogy.CRISP_LOW_BY_DIGIT = {}
        report = evaluate(model, crops, detector, 0, strength=style_strength(record), render="crisp")
        readable = report["model"]["readable"]["analogies"]
        correlation = report["model"]["correlation"]
        print(json.dumps({"low": low, "readable": readable, "correlation": correlation}), flush=True)


if __name__ == "__main__":
    main()

"""Style strength against readability with the crisp rendering: per-class readability and the slant and
thickness correlations (pooled and within class) at each strength, on validation digits.

    .venv/bin/python experiments/style_strength.py --n 300 --strengths 0.6 0.5 0.4
"""

from __future__ import annotations

import argparse
import json

import torch

from digit_detector.detector import Detector
from digit_detector.style.crops import DEFAULT_DATA, VAL_SEED, load_or_make_crops
from digit_detector.style.evaluate import analogies, score_generated
from digit_detector.style.metrics import paste_heights, style_features
from digit_detector.style.model import default_style_weights_path, load_style_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="validation digits (default 300)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.6, 0.5, 0.4])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_style_model(default_style_weights_path())
    detector = Detector.from_weights(None, device="cpu")
    crops = load_or_make_crops(DEFAULT_DATA, "val", args.n, VAL_SEED)
    heights, features = paste_heights(len(crops), 0), style_features(crops.ink())
    for strength in args.strengths:
        generated = analogies(model, crops, "model", 0, strength=strength, render="crisp")
        scored = score_generated(generated, crops, features, detector, heights)
        readable, correlation = scored["readable"]["analogies"], scored["correlation"]
        print(
            json.dumps({"strength": strength, "readable": readable, "correlation": correlation}), flush=True
        )


if __name__ == "__main__":
    main()

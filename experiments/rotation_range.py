"""How much the canvas augmentation's large rotations cost: a split made again with a narrower range, read by
the shipped model (the same canvases otherwise).

    .venv/bin/python experiments/rotation_range.py --split val --n 1500 --seed 2 --rotate-large 15 \
        --out runs/val-rotate15
    .venv/bin/python -m digit_detector eval --data runs/val-rotate15 --split val

The augmentation rotates a quarter of the canvases by up to ``rotate_large`` degrees (30), the others by
up to ``rotate_small`` (8), on top of each object's own slant. A `1` with a long flag turned 20-30 degrees
clockwise is drawn as a `7`, and a `7` turned the other way as a `1`, but keeps its label. This writes the
split of ``--split``/``--n``/``--seed`` with ``AugmentConfig.rotate_large`` set to ``--rotate-large`` and
nothing else changed, for ``eval`` to compare with the split made by the recipe. ``--min-visible`` (0.6)
also sets the share of an object's ink that must stay on the canvas for it to be kept and labelled
(``--min-visible 0.8``: no digit is cut by the canvas edge by more than a fifth).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from digit_detector.data.augment import AugmentConfig
from digit_detector.data.synth import SynthConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--n", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--rotate-large", type=float, default=15.0)
    parser.add_argument("--min-visible", type=float, default=AugmentConfig.min_visible)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = SynthConfig(augment=AugmentConfig(rotate_large=args.rotate_large, min_visible=args.min_visible))
    print(generate(args.out, args.n, args.seed, args.split, config, workers=args.workers, overwrite=True))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Short check of the GPU path on a CUDA machine: generate a small data set, train experiment=gpu_yolov3
# (Darknet-53, AMP, batch 128, 8 loader workers) for a few minutes and print its throughput.
#   bash scripts/gpu_check.sh [MINUTES] [TRAIN_CANVASES]
# Needs the training requirements (requirements-dev.txt) and the data sources (npm, or a filled cache).
set -euo pipefail
minutes=${1:-1.25}
canvases=${2:-16000}
root=${GPU_CHECK_DATA:-/tmp/gpu-check-data}
workers=$(nproc)
python -m digit_detector data synth --out "$root" --n "$canvases" --seed 1 --split train --workers "$workers" --overwrite
python -m digit_detector data synth --out "$root" --n 200 --seed 2 --split val --workers "$workers" --overwrite
python -m digit_detector data synth --out "$root" --n 200 --seed 3 --split test --workers "$workers" --overwrite
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python -m digit_detector train experiment=gpu_yolov3 data.root="$root" trainer.time_budget_minutes="$minutes" \
  trainer.threads=8 run_dir=runs/gpu-check version=gpu-check
python - <<'PY'
import json
training = json.load(open("runs/gpu-check/yolov3.json"))["training"]
print({key: training[key] for key in ("epochs", "seconds", "images_per_second", "train_images")})
PY

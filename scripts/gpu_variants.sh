# Sourced by the prepared GPU scripts (`gpu_detectors.sh`, `gpu_namers.sh`; `gpu_finetune.sh` for `synth`):
# the canvases generated there, and one background process per variant with its log, the logs' ends
# gathered into one file. Sets `root` (the data folder, GPU_DATA), `python` (PYTHON) and `cores`; the caller
# makes OUT.

root=${GPU_DATA:-/tmp/gpu-data}
python=${PYTHON:-python}
cores=$(nproc)

# cores_per_variant COUNT: the cores each of COUNT variants side by side gets (at least 2).
cores_per_variant() {
  local share=$((cores / $1))
  echo $((share > 2 ? share : 2))
}

synth() { "$python" -m digit_detector data synth --out "$root" --workers "$cores" --overwrite "$@"; }

# run_variants OUT LAUNCH 'NAME OPTIONS...' ...: `LAUNCH NAME OPTIONS...` for each variant at once (output to
# OUT/NAME.log), then OUT/runs.log with each log's end (the transfer back takes few files). Sets `names` to
# the variants' names; returns the last failing variant's status, 0 when all succeed.
run_variants() {
  local out=$1 launch=$2 variant name job status=0
  local -a words jobs=()
  shift 2
  names=()
  for variant in "$@"; do
    read -r -a words <<<"$variant"
    name=${words[0]}
    names+=("$name")
    "$launch" "${words[@]}" >"$out/$name.log" 2>&1 &
    jobs+=($!)
  done
  for job in "${jobs[@]}"; do
    wait "$job" || status=$?
  done
  for name in "${names[@]}"; do
    echo "===== $name"
    tail -c 20000 "$out/$name.log"
  done >"$out/runs.log"
  for name in "${names[@]}"; do rm -f "$out/$name.log"; done
  return "$status"
}

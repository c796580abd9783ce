#!/usr/bin/env bash
# The GPU measurements of issue 16 in one go, under 8 minutes on an H100/H200-class card:
#   1. the card;
#   2. one SDS step, random full-size weights (bench/guidance_gpu.py): SD-2.1-base and IF-I-XL eager in bf16,
#      SD with the tiny VAE (TAESD-shaped AutoencoderTiny), then SD compiled (the default) with and without it;
#   3. a training render + backward per nerf.encoding at 64/128/256 px (the hash grid when the checkout has it);
#   4. a whole `dreamlift text --prior FOLDER` job with random SD-2.1-base weights: 300 steps with the preset's
#      milestones at threestudio's fractions (64 px, 128 px from step 100, 256 px from 150), mesh and turntable
#      export included; then the same job's training with the tiny VAE. Uncompiled (prior.compile=false: the
#      compile minute would not fit; part 2 gives the compiled step). Printed per job: wall and training time,
#      median step per render size, peak CUDA memory, and the preset's 10,000 steps projected from them.
# Every part has its own time limit (sum 6 min 30 s), so one slow part cannot take the others' time.
# Results also go to $OUT (or ./gpu_check_out) as JSON.
#
#   bash bench/gpu_check.sh
#   TINY=1 JOB_STEPS=6 bash bench/gpu_check.sh     # the script itself on tiny models (a CPU smoke test)
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_check_out}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
JOB_STEPS="${JOB_STEPS:-300}"
TINY_FLAG=()
[ -n "${TINY:-}" ] && TINY_FLAG=(--tiny)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
started=$(date +%s)

part() {  # part SECONDS NAME COMMAND...
  local limit=$1 name=$2
  shift 2
  echo
  echo "== $name (limit ${limit} s, at $(( $(date +%s) - started )) s)"
  timeout -k 5 "$limit" "$@"
  local code=$?
  [ $code -eq 124 ] && echo "-- $name: stopped at its ${limit} s limit"
  [ $code -ne 0 ] && [ $code -ne 124 ] && echo "-- $name: exit status $code"
  return 0
}

echo "== card"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi not found"
$PY -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda, '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO CUDA', '| diffusers', diffusers.__version__)"

# variants of bench/guidance_gpu.py: 3 SD bf16 eager, 9 IF bf16 eager, 11 SD bf16 eager + tiny VAE, 7 SD default (compiled), 12 SD compiled + tiny VAE
part 80 "SD / IF step, eager" $PY bench/guidance_gpu.py "${TINY_FLAG[@]}" --variants 3,9,11 --steps 20 --warmup 3 --json "$OUT/steps_eager.json"
part 120 "SD step, compiled (the default), with and without the tiny VAE" $PY bench/guidance_gpu.py "${TINY_FLAG[@]}" --variants 7,12 --steps 30 --warmup 5 --json "$OUT/steps_compiled.json"
part 40 "encodings" $PY bench/guidance_gpu.py "${TINY_FLAG[@]}" --encodings --steps 10 --warmup 3 --json "$OUT/encodings.json"
MILESTONES="size_milestones=[[$((JOB_STEPS / 3)),128,1],[$((JOB_STEPS / 2)),256,1]]"  # threestudio's 200 and 300 of 600
JOB=("${TINY_FLAG[@]}" --job --job-steps "$JOB_STEPS" --set "$MILESTONES" --set log_every=1 --set prior.compile=false --set "refine.steps=${REFINE_STEPS:-100}")
part 100 "whole job, SD random weights, $JOB_STEPS steps, export" $PY bench/guidance_gpu.py "${JOB[@]}" --json "$OUT/job.json"
part 50 "whole job with the tiny VAE, $JOB_STEPS steps, no export" $PY bench/guidance_gpu.py "${JOB[@]}" --job-tiny-vae on --job-export off --json "$OUT/job_tiny_vae.json"
echo
echo "== done in $(( $(date +%s) - started )) s"

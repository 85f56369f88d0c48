#!/usr/bin/env bash
# One lent GPU session's checks and measurements, as one command (issues 18 and 22):
#   1. bf16 autocast vs float32 training-step speed (benchmarks/cuda_bf16.py), alone;
#   2. the MNIST diffusion recipes trained on the GPU side by side, each stopped
#      TRAIN_END seconds after the start (its last checkpoint is kept; ckpt every 1000
#      steps), while
#      benchmarks/cuda_smoke.py checks every family on CUDA;
#   3. benchmarks/sampler_defaults.py on each trained run: FID, precision, recall and
#      class accuracy of every sampler of its grid at N samples with CFG, stopped
#      EVAL_END seconds after the start (rows are kept as they finish);
#   4. OUT gets results.txt (every table and log tail), rows.jsonl, the rectified flow's
#      reference samples (its ODE's (seed, sample) pairs) and a tar of the rf/edm runs
#      in 15 MiB parts (join with cat).
#
#   bash benchmarks/gpu_session.sh OUT [TRAIN_END=300] [EVAL_END=550]
#
# Environment: PY (python3), DEV (cuda), N (10000), CLASSIFIER (runs/eval-mnist-classifier),
# RECIPES ("rf-mnist edm-mnist ddpm-mnist dit-mnist"), EXTRA (more train overrides),
# GRID (one sampler grid for every run; default: per objective). MNIST is read from
# ../shared/data/mnist as the recipes say.
set -u
OUT=${1:?usage: gpu_session.sh OUT [TRAIN_END] [EVAL_END]}
TRAIN_END=${2:-300}
EVAL_END=${3:-550}
PY=${PY:-python3}
DEV=${DEV:-cuda}
N=${N:-10000}
CLASSIFIER=${CLASSIFIER:-runs/eval-mnist-classifier}
RECIPES=${RECIPES:-rf-mnist edm-mnist ddpm-mnist dit-mnist}
EXTRA=${EXTRA:-}
W=$(mktemp -d)
mkdir -p "$OUT" "$W/runs" "$W/logs"
export PYTHONUNBUFFERED=1
start=$SECONDS
left() { # seconds until $1 after the start, at least 1 (timeout 0 would mean no limit)
  local s=$(($1 - (SECONDS - start)))
  echo $((s > 0 ? s : 1))
}
stamp() { echo "[$((SECONDS - start)) s] $*" | tee -a "$W/logs/timeline.txt"; }

stamp "start: $(nvidia-smi -L 2>/dev/null | head -1)"
timeout 90 $PY benchmarks/cuda_bf16.py >"$W/logs/bf16.txt" 2>&1
stamp "bf16 check done (rc $?)"

bf16=true
[ "$DEV" = cpu ] && bf16=false
for r in $RECIPES; do
  # shellcheck disable=SC2086
  timeout "$(left "$TRAIN_END")" $PY -m genlab train "$r" "train.device=$DEV" "train.bf16=$bf16" \
    train.ckpt_every=1000 train.threads=3 train.tensorboard=false $EXTRA \
    --out "$W/runs/$r" >"$W/logs/train_$r.txt" 2>&1 &
done
if [ "$DEV" = cuda ]; then
  timeout 240 $PY benchmarks/cuda_smoke.py >"$W/logs/smoke.txt" 2>&1
  stamp "cuda smoke done (rc $?)"
fi
wait
stamp "training stopped"

for r in $RECIPES; do
  [ -f "$W/runs/$r/ema.safetensors" ] || { stamp "$r: no checkpoint"; continue; }
  more=()
  if [ "$r" = rf-mnist ]; then more=(--floor --save-ref "$OUT/rf-mnist-pairs.npz"); fi
  [ -n "${GRID:-}" ] && more+=(--grid "$GRID")
  timeout "$(left "$EVAL_END")" $PY benchmarks/sampler_defaults.py "$W/runs/$r" --n "$N" --batch 2500 \
    --device "$DEV" --classifier "$CLASSIFIER" --cache "$W/cache_$r" \
    --jsonl "$W/logs/rows_$r.jsonl" ${more[@]+"${more[@]}"} >"$W/logs/eval_$r.txt" 2>&1 &
done
wait
stamp "evaluation stopped"

{
  cat "$W/logs/timeline.txt"
  echo; cat "$W/logs/bf16.txt"
  [ -f "$W/logs/smoke.txt" ] && { echo; cat "$W/logs/smoke.txt"; }
  for r in $RECIPES; do
    echo; echo "== $r: $(readlink "$W/runs/$r/state" 2>/dev/null)"
    tail -n 2 "$W/runs/$r/metrics.jsonl" 2>/dev/null
    tail -n 5 "$W/logs/train_$r.txt"
    echo; cat "$W/logs/eval_$r.txt" 2>/dev/null | tail -n 30
  done
} >"$OUT/results.txt" 2>&1
cat "$W"/logs/rows_*.jsonl >"$OUT/rows.jsonl" 2>/dev/null
keep=()
for r in rf-mnist edm-mnist; do
  [ -f "$W/runs/$r/ema.safetensors" ] && keep+=("$r/config.yaml" "$r/ema.safetensors" "$r/metrics.jsonl")
done
if [ ${#keep[@]} -gt 0 ]; then
  tar -C "$W/runs" -cf - "${keep[@]}" | split -b 15M -d - "$OUT/runs.tar."
fi
stamp "packed: $(ls "$OUT" | tr '\n' ' ')"
cat "$OUT/results.txt"

#!/usr/bin/env bash
# The estimator's `--device cuda` configuration end to end in one fixed time budget, for a GPU
# machine lent for a few minutes: build the training and held-out shards (npy: fast to write
# and read), measure the training rate, train as many steps of 256 crops as the budget holds,
# then score it exactly as docs/estimator.md scores the CPU model (the same held-out sets:
# same sources, seeds and options, so the same pixels) and on PolyU's real noise.
#
#   bash bench/estimator_gpu.sh DATA WORK OUT
#
# DATA: a folder laid out like ../shared/data (bsds500/train and sun80 train, cbsd68 is held
# out, polyu_real_noise/{lq,gt}). WORK: scratch space (about 8 GB). OUT: the figures (a log,
# results.tar.gz with every JSON, the two confusion charts). Knobs (environment):
#   DEADLINE_S   seconds from start by which everything is done          [540]
#   DEVICE       cuda or cpu (cpu: a dry run of the flow)                [cuda]
#   BATCH        crops per step                                          [256]
#   TRAIN_COUNT  training pairs built                                    [65536]
#   WORKERS      loader processes for training                           [14]
#   BUILD_WORKERS  processes for the training shards (held-out: 3 each)  [10]
#   HEAD_CROPS   crops for the head refit                                [8192]
#   HELDOUT_COUNT, SINGLE_COUNT  held-out pairs (docs/estimator.md's)   [3072, 2048]
#   GPU_TESTS    1: run tests/gpu at the end, in the time left            [1]
#   PY           python                                                  [python3]
set -u
DATA=$(realpath "$1"); WORK=$(realpath -m "$2"); OUT=$(realpath -m "$3")
DEADLINE_S=${DEADLINE_S:-540}; DEVICE=${DEVICE:-cuda}; BATCH=${BATCH:-256}
TRAIN_COUNT=${TRAIN_COUNT:-65536}; WORKERS=${WORKERS:-14}; BUILD_WORKERS=${BUILD_WORKERS:-10}
HEAD_CROPS=${HEAD_CROPS:-8192}; GPU_TESTS=${GPU_TESTS:-1}; PY=${PY:-python3}
HELDOUT_COUNT=${HELDOUT_COUNT:-3072}; SINGLE_COUNT=${SINGLE_COUNT:-2048}
export PYTHONUNBUFFERED=1
mkdir -p "$WORK" "$OUT/results"
LOG="$OUT/log.txt"
say() { echo "[$(printf '%4d' "$SECONDS") s] $*" | tee -a "$LOG"; }
run() { say "\$ $*"; "$@" >>"$LOG" 2>&1; local rc=$?; say "rc $rc"; return $rc; }
left() { echo $((DEADLINE_S - SECONDS)); }

say "estimator_gpu: device $DEVICE, batch $BATCH, deadline ${DEADLINE_S} s"
$PY -c "import torch,numpy,numba;print('torch',torch.__version__,'cuda',torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '','numpy',numpy.__version__,
'numba',numba.__version__)" >>"$LOG" 2>&1
nproc >>"$LOG"

# 1. shards: training from bsds500/train + sun80, held-out from cbsd68 (docs/estimator.md's
# commands, in npy), all three built at once
find "$DATA/bsds500/train" "$DATA/sun80" -name '*.jpg' | sort >"$WORK/train_sources.txt"
build() { $PY -m degrade build-shards --patch 128 --k 7 --format npy --quiet "$@"; }
build --src-list "$WORK/train_sources.txt" --count "$TRAIN_COUNT" --n 6 --seed 0 \
    --workers "$BUILD_WORKERS" --out "$WORK/train" >"$WORK/build-train.log" 2>&1 &
TRAIN_PID=$!
build --src "$DATA/cbsd68" --count "$HELDOUT_COUNT" --n 6 --seed 1 --workers 3 --out "$WORK/heldout" \
    >"$WORK/build-heldout.log" 2>&1 &
HELD_PID=$!
build --src "$DATA/cbsd68" --count "$SINGLE_COUNT" --n 1 --seed 2 --workers 3 --out "$WORK/heldout-single" \
    >"$WORK/build-single.log" 2>&1 &
SINGLE_PID=$!
for pid in $TRAIN_PID $HELD_PID $SINGLE_PID; do wait "$pid" || say "a shard build failed"; done
cat "$WORK"/build-*.log | tail -n 6 >>"$LOG"
say "shards built"

# 2. the training rate: 100 steps in a throwaway run (the first 40 include the start)
train() { $PY -m trainer estimator train "$WORK/train" --device "$DEVICE" --batch "$BATCH" \
    --workers "$WORKERS" --quiet "$@"; }
run train --out "$WORK/calibrate" --steps 100 --head-crops 0 --ckpt-every 1000
RATE=$($PY -c "import json,sys;m=[json.loads(l) for l in open(sys.argv[1])][2:]
print(sum(r['img_per_s'] for r in m)/max(len(m),1))" "$WORK/calibrate/metrics.jsonl" 2>/dev/null)
RATE=${RATE:-0}
# 3. the run: the steps that fit, leaving time for the start, the head refit and the scoring
BUDGET=$(( $(left) - 170 ))
STEPS=$($PY -c "print(max(100, int(float('$RATE') * $BUDGET / $BATCH)))")
say "rate ${RATE} img/s; training budget ${BUDGET} s -> $STEPS steps of $BATCH"
run train --out "$WORK/run" --steps "$STEPS" --head-crops "$HEAD_CROPS" --ckpt-every 500
cp "$WORK/run/metrics.jsonl" "$WORK/run/run.json" "$OUT/results/" 2>/dev/null

# 4. scoring, on the GPU (on the CPU if that fails)
evaluate() {
    local name=$1
    $PY -m trainer estimator eval "$WORK/run" --data "$WORK/$name" --out "$WORK/eval-$name" \
        --device "$DEVICE" >>"$LOG" 2>&1 \
    || $PY -m trainer estimator eval "$WORK/run" --data "$WORK/$name" --out "$WORK/eval-$name" \
        --overwrite >>"$LOG" 2>&1
    say "eval $name rc $?"
    cp "$WORK/eval-$name/eval.json" "$OUT/results/eval-$name.json" 2>/dev/null
    cp "$WORK/eval-$name/confusion.png" "$OUT/confusion-$name.png" 2>/dev/null
}
evaluate heldout-single
evaluate heldout
for side in lq gt; do
    $PY -m trainer estimate "$WORK/run" "$DATA/polyu_real_noise/$side" --device "$DEVICE" \
        --json "$OUT/results/polyu_$side.json" 2>&1 | tail -n 1 >>"$LOG"
done
timeout $(( $(left) > 100 ? 90 : $(left) - 10 )) $PY bench/estimator_levels.py "$DATA/cbsd68" --estimator "$WORK/run" \
    >"$OUT/results/levels.txt" 2>&1
if [ "$GPU_TESTS" = 1 ] && [ "$(left)" -gt 30 ]; then
    say "tests/gpu in the $(left) s left"
    PYTHONPATH=$PWD:${PYTHONPATH:-} timeout $(( $(left) - 10 )) $PY -m pytest -q -p no:cacheprovider \
        -rs tests/gpu >"$OUT/results/pytest-gpu.txt" 2>&1
    tail -n 15 "$OUT/results/pytest-gpu.txt" >>"$LOG"
fi
say "done, $(left) s to spare"
tar -czf "$OUT/results.tar.gz" -C "$OUT" results && rm -r "$OUT/results"

#!/usr/bin/env bash
# The README's `make demo`: the whole method end to end on the embedded default images, ending
# with an adapter for haze (a degradation outside the PROD pre-training pool) that beats its
# input on held-out test pairs, and runs/demo/before-after.png.
# Sized for about 3 minutes of one laptop CPU core; the same commands scale up unchanged.
#
# Threads: torch's default pool takes every core and, when another program keeps a core busy,
# waits at each step for its descheduled threads (a demo step: 23 s instead of 1.3 s). The
# demo's small model gains little from more threads, so it runs on DEMO_THREADS=1 by default; a
# training step then slows down only by the CPU share it loses (bench/bench_threads.py).
# DEMO_THREADS=N uses N threads (with passive waiting) on an otherwise idle machine.
set -euo pipefail
BIN=${1:-.venv/bin}
OUT=runs/demo
export PATH="$BIN:$PATH"
export OMP_NUM_THREADS=${DEMO_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$OUT"
TASK=haze PATCH=64 TEST_COUNT=8 SEED=0

echo "== 1/6 the degradation space and a preview"
degrade space --k 7 --n 6
degrade preview --k 7 --n 6 --count 16 --seed 0 --out "$OUT/preview.png"

echo "== 2/6 PROD training pairs as WebDataset shards (a finished build re-run does nothing)"
degrade build-shards --k 7 --n 6 --count 512 --patch 96 --shard-size 128 --out "$OUT/shards"
degrade verify "$OUT/shards"

echo "== 3/6 PROD pre-training of a small NAFNet"
trainer pretrain "$OUT/shards" --model nafnet-small --steps 300 --batch 8 --patch $PATCH \
    --lr 1e-3 --val-every 100 --ckpt-every 100 --log-every 20 --out "$OUT/pretrain" --overwrite

echo "== 4/6 FAIG contributions for $TASK (outside the pre-training pool)"
trainer faig --base "$OUT/pretrain" --task $TASK --steps 20 --tune-steps 60 --images 8 \
    --patch $PATCH --out "$OUT/faig"

echo "== 5/6 CoLoRA fine-tuning on $TASK (7% of the parameters)"
trainer colora --task $TASK --base "$OUT/pretrain" --faig "$OUT/faig/faig.json" --steps 200 \
    --batch 8 --patch $PATCH --train-count 64 --test-count $TEST_COUNT --seed $SEED \
    --out "$OUT/colora-$TASK" --overwrite

echo "== 6/6 before and after, on the held-out test pairs"
"$BIN/python" scripts/before_after.py --base "$OUT/pretrain" \
    --adapter "$OUT/colora-$TASK/adapter.safetensors" --task $TASK --test-count $TEST_COUNT \
    --size $((2 * PATCH)) --seed $SEED --out "$OUT/before-after.png"

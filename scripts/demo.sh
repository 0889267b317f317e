#!/usr/bin/env bash
# The README's `make demo`: the whole method end to end on the embedded default images.
# Small sizes so that it finishes in minutes on a CPU; the same commands scale up unchanged.
set -euo pipefail
BIN=${1:-.venv/bin}
OUT=runs/demo
export PATH="$BIN:$PATH"
mkdir -p "$OUT"

echo "== 1/6 the degradation space and a preview"
degrade space --k 7 --n 6
degrade preview --k 7 --n 6 --count 16 --seed 0 --out "$OUT/preview.png"

echo "== 2/6 PROD training pairs as WebDataset shards (a finished build re-run does nothing)"
degrade build-shards --k 7 --n 6 --count 512 --patch 96 --shard-size 128 --out "$OUT/shards"
degrade verify "$OUT/shards"

echo "== 3/6 PROD pre-training of a small NAFNet"
trainer pretrain "$OUT/shards" --model nafnet-small --steps 300 --batch 8 --patch 64 \
    --lr 1e-3 --val-every 100 --ckpt-every 100 --log-every 20 --out "$OUT/pretrain" --overwrite

echo "== 4/6 FAIG contributions for blur"
trainer faig --base "$OUT/pretrain" --task blur --steps 20 --tune-steps 60 --images 8 --patch 64 \
    --out "$OUT/faig"

echo "== 5/6 CoLoRA fine-tuning on blur (7% of the parameters)"
trainer colora --task blur --base "$OUT/pretrain" --faig "$OUT/faig/faig.json" --steps 200 \
    --batch 8 --patch 64 --train-count 64 --out "$OUT/colora-blur" --overwrite

echo "== 6/6 restore an image with the adapter"
trainer restore "$OUT/pretrain" "$OUT/preview.png" --adapter "$OUT/colora-blur/adapter.safetensors" \
    --out "$OUT/restored"
echo "demo finished: outputs in $OUT/"

"""The commands end to end on CUDA: `degrade build-shards` builds a tiny PROD shard folder,
`python -m trainer pretrain` trains on it with the GPU defaults (bf16, channels_last) plus
--compile, reading uint8 batches, and `trainer restore` runs the result on the GPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gpu_shards(tmp_path_factory, gpu):
    return gpu.build_shards(tmp_path_factory.mktemp("shards") / "shards", 48, 96, 12)


def trainer_command(*args, timeout: float = 240) -> subprocess.CompletedProcess:
    """`python -m trainer ARGS` in a fresh process, as a user runs it; a run that outlives
    `timeout` seconds fails the test with the end of what it printed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    began = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "trainer", *map(str, args)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"trainer {args[0]} still running after {timeout} s: "
                    f"{(error.stderr or b'')[-2000:]!r}")
    print(f"\ntrainer {args[0]}: {time.perf_counter() - began:.1f} s")
    return done


def test_pretrain_then_restore_on_cuda(gpu_shards, tmp_path):
    out = tmp_path / "run"
    done = trainer_command("pretrain", gpu_shards, "--model", "nafnet-tiny", "--steps", "8",
                           "--batch", "8", "--patch", "64", "--workers", "2", "--log-every", "2",
                           "--val", gpu_shards, "--val-limit", "4", "--val-every", "4",
                           "--ckpt-every", "4", "--compile", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pre-trained nafnet-tiny for 8 steps" in done.stdout
    options = json.loads((out / "run.json").read_text())["options"]
    assert options["device"].startswith("cuda") and options["amp"] == "bf16"
    assert options["channels_last"] is True and options["compile"] is True
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 8 and np.isfinite(summary["final_loss"])
    assert np.isfinite(summary["val"]["psnr"]) and summary["images_per_s"] > 0
    for name in ("model.safetensors", "best.safetensors", "curves.png", "metrics.jsonl"):
        assert (out / name).is_file(), name

    from pipelines.codecs import decode_png, encode_png
    from pipelines.pairs import iter_pairs

    _, lq, _ = next(iter_pairs(gpu_shards, limit=1))
    image = tmp_path / "in.png"
    image.write_bytes(encode_png(lq))
    restored = trainer_command("restore", out, image, "--out", tmp_path / "restored",
                               "--device", "cuda", "--amp", "bf16", "--tile", "64",
                               "--overlap", "16")
    assert restored.returncode == 0, restored.stderr[-3000:]
    result = decode_png((tmp_path / "restored" / "in.png").read_bytes())
    assert result.shape == lq.shape and result.dtype == np.uint8

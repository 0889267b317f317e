"""Real processes: `trainer pretrain` killed with SIGKILL resumes exactly; torchrun runs DDP."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.files import sha256_file
from trainer.checkpoint import CHECKPOINT_DIR, list_checkpoints

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _command(shards, out, *extra):
    return [sys.executable, "-m", "trainer", "pretrain", str(shards), "--model", "nafnet-tiny",
            "--steps", "12", "--batch", "2", "--patch", "32", "--workers", "0", "--seed", "5",
            "--log-every", "1", "--ckpt-every", "2", "--device", "cpu", "--out", str(out),
            *extra]


def _losses(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["lr"]) for r in records if "loss" in r]


def _kill_after_checkpoint(command, out, step, timeout=120):
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not any(s >= step for s in list_checkpoints(out / CHECKPOINT_DIR)):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode


def test_sigkill_then_resume_matches_uninterrupted_run(shard_dir, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_command(shard_dir, straight), env=ENV, check=True, capture_output=True)
    assert _kill_after_checkpoint(_command(shard_dir, killed), killed, 4) == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists()
    interrupted_at = list_checkpoints(killed / CHECKPOINT_DIR)[-1]
    assert interrupted_at < 12
    done = subprocess.run(_command(shard_dir, killed, "--resume"), env=ENV, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert _losses(killed) == _losses(straight)
    assert sha256_file(killed / "model.safetensors") == sha256_file(straight / "model.safetensors")


def test_torchrun_two_gloo_processes(shard_dir, tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    command = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "trainer",
               "pretrain", str(shard_dir), "--model", "nafnet-tiny", "--steps", "4", "--batch",
               "4", "--patch", "32", "--workers", "0", "--device", "cpu", "--log-every", "2",
               "--ckpt-every", "2", "--val", str(shard_dir), "--val-limit", "2",
               "--val-every", "2", "--out", str(out)]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("pre-trained nafnet-tiny for 4 steps") == 1  # rank 0 only
    steps = [step for step, _, _ in _losses(out)]
    assert steps == [2, 4] and (out / "model.safetensors").exists()

"""The degradation estimator on CUDA: `trainer estimator train --device cuda` (uint8 batches
scaled on the device, the head refit where the head is), then eval and estimate on the GPU,
matching the CPU's scores of the same file."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner


@pytest.fixture(scope="module")
def est_shards(tmp_path_factory, gpu):
    return gpu.build_shards(tmp_path_factory.mktemp("est") / "shards", 64, 64, 16)


def test_train_eval_and_estimate_on_cuda_match_the_cpu(est_shards, tmp_path):
    from trainer.cli import main as trainer_main
    from trainer.estimator.evaluation import collect
    from trainer.estimator.files import load_estimator

    run = tmp_path / "run"
    result = CliRunner().invoke(trainer_main, [
        "estimator", "train", str(est_shards), "--out", str(run), "--device", "cuda",
        "--steps", "6", "--batch", "16", "--patch", "64", "--head-crops", "64",
        "--workers", "2", "--ckpt-every", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "head refitted on 64 crops" in result.output
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics and all(np.isfinite(m["loss"]) for m in metrics)

    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # plain fp32: the comparison is CUDA vs CPU
    try:
        scores = {}
        for device in ("cpu", "cuda"):
            model, _ = load_estimator(run, device)
            scores[device] = collect(model, est_shards, 64, device, limit=16, progress=False)
    finally:
        torch.backends.cudnn.allow_tf32 = saved
    cpu, cuda = scores["cpu"], scores["cuda"]
    assert np.allclose(cpu.probability, cuda.probability, atol=1e-4)
    assert np.allclose(cpu.predicted_level, cuda.predicted_level, atol=1e-4)

    out = tmp_path / "eval"
    result = CliRunner().invoke(trainer_main, ["estimator", "eval", str(run), "--data",
                                               str(est_shards), "--out", str(out),
                                               "--device", "cuda", "--limit", "32"])
    assert result.exit_code == 0, result.output
    assert (out / "eval.json").exists() and (out / "confusion.png").exists()

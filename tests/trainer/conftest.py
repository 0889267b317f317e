"""Fixtures for the trainer tests (C2's loop/checkpoint/restore tests): a tiny local conv model
and synthetic batches, independent of the model zoo and the shard pipeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn


class TinyConvNet(nn.Module):
    """Two 3x3 convs and a global residual: receptive radius 2, any input size."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.config = {"arch": "tiny-conv-test", "width": width}
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.tail = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x):
        return x + self.tail(torch.relu(self.head(x)))


def synthetic_batches(seed: int, batch: int = 2, patch: int = 16):
    """batches(start) for fit(): noisy/clean pairs that depend only on (seed, batch number)."""
    def source(start: int):
        index = start
        while True:
            rng = np.random.default_rng([seed, index])
            gt = rng.random((batch, 3, patch, patch), dtype=np.float32)
            lq = np.clip(gt + rng.normal(0, 0.1, gt.shape).astype(np.float32), 0, 1)
            yield {"lq": torch.from_numpy(lq), "gt": torch.from_numpy(gt),
                   "key": [f"{index}-{i}" for i in range(batch)]}
            index += 1
    return source


@pytest.fixture
def conv_net():
    """The TinyConvNet class (a local stand-in with receptive radius 2)."""
    return TinyConvNet


@pytest.fixture
def make_batches():
    """synthetic_batches(seed, batch=2, patch=16) -> batches(start) for fit()."""
    return synthetic_batches


@pytest.fixture(scope="session")
def shard_dir(tmp_path_factory):
    """A tiny PROD shard folder: 16 pairs of 48x48 in 4 shards (embedded source images)."""
    from pipelines.build import BuildConfig, build_shards

    out = tmp_path_factory.mktemp("shards") / "shards"
    build_shards(BuildConfig(out=str(out), count=16, patch=48, shard_size=4, workers=1,
                             progress=False))
    return out


@pytest.fixture(scope="session")
def paired_dir(tmp_path_factory, shard_dir):
    """A paired folder (lq/ + gt/ PNGs) holding the first 4 pairs of `shard_dir`."""
    from pipelines.codecs import encode_png
    from pipelines.pairs import iter_pairs

    root = tmp_path_factory.mktemp("paired")
    for folder in ("lq", "gt"):
        (root / folder).mkdir()
    for name, lq, gt in iter_pairs(shard_dir, limit=4):
        (root / "lq" / f"{name}.png").write_bytes(encode_png(lq))
        (root / "gt" / f"{name}.png").write_bytes(encode_png(gt))
    return root


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """A saved nafnet-tiny model file (random weights, seed 0)."""
    from trainer.checkpoint import save_model
    from trainer.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, create_model("nafnet-tiny"), {"note": "test"})
    return path

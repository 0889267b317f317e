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

"""The test session's process-wide float settings (it is an entry point, like the commands), toy
models for the adapter/FAIG tests (every layer kind, a blocks() list, a config dict), and
load_module for the script files under bench/ and scripts/."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from trainer.models import BlockInfo
from trainer.numerics import flush_denormals

flush_denormals()  # before torch's thread pool starts (tests train small models on the CPU)


class ToyBlock(nn.Module):
    """1x1, depthwise 3x3, grouped 3x3 and dense 3x3 convs, a norm and a residual scale."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.expand = nn.Conv2d(channels, 2 * channels, 1)
        self.depthwise = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels)
        self.grouped = nn.Conv2d(2 * channels, channels, 3, padding=1, groups=2)
        self.dense = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.beta = nn.Parameter(torch.full((channels,), 0.5))

    def forward(self, x):
        y = self.dense(self.grouped(torch.relu(self.depthwise(self.expand(self.norm(x))))))
        return x + y * self.beta.view(1, -1, 1, 1)


class ToyNet(nn.Module):
    """intro -> encoder block -> middle block -> decoder block (+ Linear over channels) -> out."""

    def __init__(self, channels: int = 4):
        super().__init__()
        self.intro = nn.Conv2d(3, channels, 3, padding=1)
        self.enc = ToyBlock(channels)
        self.mid = ToyBlock(channels)
        self.up = nn.Conv2d(channels, channels, 1)
        self.dec = ToyBlock(channels)
        self.mix = nn.Linear(channels, channels)
        self.out = nn.Conv2d(channels, 3, 3, padding=1)

    @property
    def config(self) -> dict:
        return {"arch": "toy", "img_channels": 3}

    def forward(self, x):
        y = self.dec(self.up(self.mid(self.enc(self.intro(x)))))
        y = self.mix(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.out(y)

    def blocks(self):
        parts = [("enc", "encoder"), ("mid", "middle"), ("dec", "decoder")]
        return [BlockInfo(i, name, part, self.get_submodule(name))
                for i, (name, part) in enumerate(parts)]


@pytest.fixture
def toy():
    torch.manual_seed(0)
    return ToyNet()


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 3, 8, 8, generator=generator)
    lq = (gt + 0.1 * torch.randn(2, 3, 8, 8, generator=generator)).clamp(0, 1)
    return lq, gt


def scores_rising_with_depth(model) -> dict[str, float]:
    """Contributions rising with position: later parameters count more."""
    return {name: float(i + 1) for i, (name, _) in enumerate(model.named_parameters())}


@pytest.fixture
def depth_scores():
    return scores_rising_with_depth


def noisy_pairs(count: int = 3, size: int = 12):
    """(name, lq, gt) uint8 pairs: random images and their noisy copies."""
    import numpy as np

    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    lq = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    return [(f"p{i}", lq[i], gt[i]) for i in range(count)]


@pytest.fixture
def make_pairs():
    return noisy_pairs


@pytest.fixture(scope="session")
def load_module():
    """load_module(path, name) -> the Python file at `path` imported as module `name` (the
    scripts under bench/ and scripts/ are files, not packages)."""
    def load(path: Path, name: str):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load

"""The degradation estimator: a small fully-convolutional CNN, globally pooled, that gives for
each op of its list a presence logit and a level in [0, 1].

Two things the naive "conv stack + global pooling" misses are built in:
- Noise is a per-pixel statistic: the stem (two 3x3 convolutions) runs at full resolution and
  its per-channel mean and standard deviation over the image feed the head directly.
- JPEG leaves its mark on the 8x8 block grid: stem features (reduced by a 1x1 convolution) are
  averaged per position inside the 8x8 block ("grid phase pooling", B x C x 8 x 8), so a seam
  every 8 pixels stands out of the content however large the image. This needs the image's
  grid where JPEG put it: inputs start at a multiple of 8 from the encoded image's origin and
  their sides are multiples of 8 (the inference and training crops keep both).
A strided trunk (four stride-2 stages) sees wider structure (blur, rain, haze) and is
average-pooled. Every pooled feature is an average, so the image size does not shift them.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

GRID = 8


def _block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm (a short CPU training converges much faster with it), ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                                   bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DegradationEstimator(nn.Module):
    """forward(x: B x 3 x H x W in [0, 1], H and W multiples of 8) -> (logits, levels), both
    B x len(ops); levels already in [0, 1]. `config` rebuilds it (see `from_config`)."""

    def __init__(self, ops: Sequence[str], stem: int = 16, phase: int = 8,
                 trunk: Sequence[int] = (32, 64, 96, 128), hidden: int = 256):
        super().__init__()
        self.ops = list(ops)
        self.config = {"arch": "degradation-estimator", "ops": self.ops, "stem": stem,
                       "phase": phase, "trunk": list(trunk), "hidden": hidden}
        self.stem = nn.Sequential(_block(6, stem), _block(stem, stem))
        self.phase = nn.Conv2d(stem, phase, 1)
        stages, channels = [], stem
        for width in trunk:
            stages += [_block(channels, width, stride=2), _block(width, width)]
            channels = width
        self.trunk = nn.Sequential(*stages)
        features = 2 * stem + phase * GRID * GRID + channels
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, 2 * len(self.ops)))

    @classmethod
    def from_config(cls, config: dict) -> "DegradationEstimator":
        if config.get("arch") != "degradation-estimator":
            raise ValueError(f"not an estimator config (arch {config.get('arch')!r})")
        return cls(config["ops"], config["stem"], config["phase"], config["trunk"],
                   config["hidden"])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stem(torch.cat([x - 0.5, high_pass(x)], dim=1))
        pooled = torch.cat([features.mean(dim=(2, 3)), features.std(dim=(2, 3)),
                            grid_phase_pool(self.phase(features)),
                            self.trunk(features).mean(dim=(2, 3))], dim=1)
        logits, levels = self.head(pooled).chunk(2, dim=1)
        return logits, torch.sigmoid(levels)


def high_pass(x: torch.Tensor) -> torch.Tensor:
    """x minus its 3x3 box mean (reflected edges), scaled by 4: the fine detail where noise,
    JPEG seams and lost sharpness show, given to the first layer as extra channels."""
    mean = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    return 4.0 * (x - mean)


def grid_phase_pool(features: torch.Tensor) -> torch.Tensor:
    """B x C x H x W (H, W multiples of 8) -> B x (C * 64): each channel's mean at each of the
    64 positions inside the 8x8 block grid, minus that channel's mean over the 64 (the seam
    pattern, not the content's brightness)."""
    batch, channels, height, width = features.shape
    blocks = features.reshape(batch, channels, height // GRID, GRID, width // GRID, GRID)
    phases = blocks.mean(dim=(2, 4))
    phases = phases - phases.mean(dim=(2, 3), keepdim=True)
    return phases.reshape(batch, channels * GRID * GRID)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

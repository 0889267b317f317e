"""The training losses, by the name a LoopConfig gives, and what each logged value means."""
from __future__ import annotations

import math

import torch


def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NAFNet's PSNRLoss: mean over the batch of 10 log10(per-image MSE + 1e-8), i.e. -PSNR for
    images in [0, 1]."""
    mse = (pred - target).pow(2).mean(dim=(1, 2, 3))
    return (10.0 / math.log(10.0)) * torch.log(mse + 1e-8).mean()


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


LOSS_FUNCTIONS = {"psnr": psnr_loss, "l1": l1_loss}
LOSSES = tuple(LOSS_FUNCTIONS)
# What the logged `loss` value means, said wherever it is shown (bar, curves, summaries).
LOSS_MEANINGS = {"psnr": "-PSNR in dB, lower is better", "l1": "mean |error| on [0, 1]"}

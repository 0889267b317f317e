"""What a run is asked to do (LoopConfig), what it did (FitResult), and the loop's error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from torch import nn

from degrade.errors import KitError
from trainer.loop.losses import LOSSES

AMP_MODES = ("bf16", "fp16", "none")

# batches(start) -> the batches from batch number `start`; val_fn(model) -> {"psnr", "ssim"}
BatchSource = Callable[[int], Iterable[dict]]
ValFn = Callable[[nn.Module], dict[str, float]]


class FitError(KitError):
    """A training run that cannot start or continue (bad resume, exhausted data, ...)."""


@dataclass(frozen=True)
class LoopConfig:
    """How to optimise. `steps` is the total number of optimizer steps of the whole run."""

    steps: int
    lr: float = 1e-3
    lr_min: float = 1e-7
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.9)
    loss: str = "psnr"
    amp: str = "none"
    grad_clip: float = 0.01
    channels_last: bool = False
    compile: bool = False
    log_every: int = 50
    val_every: int = 0
    ckpt_every: int = 1000
    keep_checkpoints: int = 1
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.lr <= 0 or self.lr_min < 0 or self.lr_min > self.lr:
            raise ValueError(f"need 0 <= lr_min <= lr and lr > 0, got lr={self.lr}, "
                             f"lr_min={self.lr_min}")
        for name in ("log_every", "val_every", "ckpt_every", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class FitResult:
    """What a run did: steps done, last logged loss, validation metrics, throughput."""

    steps: int
    resumed_from: int
    final_loss: float | None
    last_val: dict[str, float] | None
    best_psnr: float | None
    seconds: float
    images_per_s: float

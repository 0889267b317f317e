"""One training step: the model, optimizer, cosine schedule and scaler of a run, and the update."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from pipelines.batching import to_float_on_device
from trainer import distributed
from trainer.loop.config import FitError, LoopConfig
from trainer.loop.losses import LOSS_FUNCTIONS, psnr_loss
from trainer.restore import autocast_context


@dataclass
class Training:
    """Model, optimizer, schedule and scaler of one run; `step(lq, gt)` is one update."""

    model: nn.Module                # the plain module (state dict keys never change)
    forward: nn.Module              # what runs the batch: DDP- and/or compile-wrapped model
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    config: LoopConfig
    device: torch.device
    loss_fn: Callable = field(default=psnr_loss)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """A float batch as is, or a uint8 one (0-255) scaled to [0, 1] after the copy: a quarter
        of the bytes cross to the device and the conversion runs there."""
        fmt = torch.channels_last if self.config.channels_last else torch.contiguous_format
        tensor = tensor.to(self.device, non_blocking=True)
        if tensor.dtype == torch.uint8:
            tensor = to_float_on_device(tensor)
        return tensor.contiguous(memory_format=fmt)

    def step(self, lq: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """One optimizer update; returns the detached loss (no host sync)."""
        lq, gt = self.to_device(lq), self.to_device(gt)
        with autocast_context(self.device, self.config.amp):
            out = self.forward(lq)
        loss = self.loss_fn(out.float(), gt)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return loss.detach()


def trainable_parameters(model: nn.Module, params: Iterable[nn.Parameter] | None) -> list:
    """The parameters to optimise: `params` (each must belong to `model`) or all of them."""
    if params is None:
        return [p for p in model.parameters() if p.requires_grad]
    params = list(params)
    own = {id(p) for p in model.parameters()}
    if not params or any(id(p) not in own for p in params):
        raise FitError("params must be a non-empty list of the model's own parameters")
    return params


def make_training(model: nn.Module, config: LoopConfig,
                  params: Iterable[nn.Parameter] | None = None) -> Training:
    """Move the model to the device and build optimizer, cosine schedule, scaler and forward."""
    device = torch.device(config.device)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    params = trainable_parameters(model, params)
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=config.betas,
                                  weight_decay=config.weight_decay,
                                  fused=True if device.type == "cuda" else None)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps,
                                                           eta_min=config.lr_min)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    forward = distributed.wrap_ddp(model, device)
    if config.compile:
        # fixed batch and patch shapes: compile once, never with dynamic shapes
        forward = torch.compile(forward, dynamic=False)
    return Training(model, forward, params, optimizer, scheduler, scaler, config, device,
                    LOSS_FUNCTIONS[config.loss])

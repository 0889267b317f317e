"""The one optimisation loop, shared by pre-training and CoLoRA fine-tuning.

`fit(model, batches, config, params=..., val_fn=..., out_dir=..., resume=...)` trains the given
parameters (all of the model's by default; fine-tuning passes only its adapters) with AdamW and a
cosine schedule, optional AMP / channels_last / torch.compile, gradient clipping, a progress bar,
JSONL metrics, periodic validation, TensorBoard when installed, and atomic checkpoints that
`resume=True` continues from exactly (same losses as an uninterrupted run). Under torchrun it
wraps the model in DistributedDataParallel; only rank 0 writes files.

Recipe defaults follow NAFNet's official SIDD width-32 configuration: AdamW lr 1e-3,
betas (0.9, 0.9), weight decay 0, cosine annealing over the whole run down to 1e-7, no warm-up,
PSNR loss, gradient-norm clipping at 0.01 (NAFNet's `use_grad_clip`, on by default).
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from pipelines.batching import to_float_on_device
from pipelines.files import remove_stale_temporaries, write_text_atomically
from trainer import checkpoint as ckpt
from trainer import distributed
from trainer.restore import autocast_context

LOSSES = ("psnr", "l1")
AMP_MODES = ("bf16", "fp16", "none")
METRICS_NAME = "metrics.jsonl"
# Config fields a resumed run must share with its checkpoint: they change the optimisation.
RESUME_INVARIANTS = ("steps", "lr", "lr_min", "weight_decay", "betas", "loss", "grad_clip")

BatchSource = Callable[[int], Iterable[dict]]
ValFn = Callable[[nn.Module], dict[str, float]]


class FitError(Exception):
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


# ---------------------------------------------------------------- losses

def psnr_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NAFNet's PSNRLoss: mean over the batch of 10 log10(per-image MSE + 1e-8), i.e. -PSNR for
    images in [0, 1]."""
    mse = (pred - target).pow(2).mean(dim=(1, 2, 3))
    return (10.0 / math.log(10.0)) * torch.log(mse + 1e-8).mean()


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


LOSS_FUNCTIONS = {"psnr": psnr_loss, "l1": l1_loss}
# What the logged `loss` value means, said wherever it is shown (bar, curves, summaries).
LOSS_MEANINGS = {"psnr": "-PSNR in dB, lower is better", "l1": "mean |error| on [0, 1]"}


# ---------------------------------------------------------------- one training step

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


# ---------------------------------------------------------------- checkpoint contents

def weight_tensors(model: nn.Module, params: list[nn.Parameter] | None) -> dict:
    """What a checkpoint stores: the full state dict, or only the trained parameters."""
    if params is None:
        return model.state_dict()
    wanted = {id(p) for p in params}
    return {name: p for name, p in model.named_parameters() if id(p) in wanted}


def weight_metadata(model: nn.Module, params_given: bool, metadata: dict | None) -> dict:
    if params_given or getattr(model, "config", None) is None:
        return {"format": ckpt.SUBSET_FORMAT, **(metadata or {})}
    return ckpt.model_metadata(model, metadata)


@dataclass
class _Progress:
    """Mutable bookkeeping of a run, saved in every checkpoint."""

    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    best_psnr: float | None = None
    last_loss: float | None = None


def _state_dict(training: Training, progress: _Progress) -> dict[str, Any]:
    return {"step": progress.step,
            "optimizer": training.optimizer.state_dict(),
            "scheduler": training.scheduler.state_dict(),
            "scaler": training.scaler.state_dict(),
            "rng": ckpt.rng_states(),
            "progress": {k: v for k, v in asdict(progress).items() if k != "step"},
            "config": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in asdict(training.config).items()}}


def _check_resume_config(saved: dict, config: LoopConfig, source: Path) -> None:
    now = asdict(config)
    for name in RESUME_INVARIANTS:
        old, new = saved.get(name), now[name]
        if isinstance(new, tuple):
            new = list(new)
        if old != new:
            raise FitError(f"{source}: cannot resume, the checkpoint was trained with "
                           f"{name}={old} but this run has {name}={new}")


def _restore(training: Training, progress: _Progress, folder: Path,
             params_given: bool) -> int:
    if distributed.is_main():  # the only writer; nothing is being written at start-up
        remove_stale_temporaries(folder)
    latest = ckpt.latest_checkpoint(folder)
    if latest is None:
        return 0
    step, weights_path, state_path = latest
    state = ckpt.load_train_state(state_path)
    _check_resume_config(state["config"], training.config, state_path)
    tensors = ckpt.read_tensors(weights_path)
    ckpt.load_weights(training.model, tensors, weights_path, strict=not params_given)
    training.optimizer.load_state_dict(state["optimizer"])
    training.scheduler.load_state_dict(state["scheduler"])
    training.scaler.load_state_dict(state["scaler"])
    ckpt.set_rng_states(state["rng"])
    progress.step = state["step"]
    for key, value in state["progress"].items():
        setattr(progress, key, value)
    return step


# ---------------------------------------------------------------- logging

class _Logger:
    """metrics.jsonl (and TensorBoard when installed) on rank 0; nothing on other ranks."""

    def __init__(self, out_dir: Path | None, enabled: bool, resume_step: int):
        self.path = out_dir / METRICS_NAME if (out_dir and enabled) else None
        self.tb = None
        if self.path is None:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._truncate_after(resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step + 1)
        except ImportError:
            self.tb = None

    def _truncate_after(self, step: int) -> None:
        """Drop records written after the checkpoint we resume from (they will be redone)."""
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        write_text_atomically(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _progress_bar(config: LoopConfig, start: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=config.steps, initial=start, disable=not (enabled and config.progress),
                file=sys.stderr, unit="step", dynamic_ncols=True,
                desc=f"train (loss: {LOSS_MEANINGS[config.loss]})")


# ---------------------------------------------------------------- the loop

def _next_batch(iterator: Iterator[dict], step: int) -> dict:
    try:
        return next(iterator)
    except StopIteration:
        raise FitError(f"the batch source ran out after {step} steps") from None


def _log_interval(training, progress, logger, bar, images, seconds) -> None:
    mean = distributed.mean_across_ranks(progress.loss_sum / max(progress.loss_count, 1))
    progress.last_loss = mean
    rate = images * distributed.world_size() / max(seconds, 1e-9)
    lr = training.scheduler.get_last_lr()[0]
    logger.write({"step": progress.step, "loss": mean, "lr": lr, "img_per_s": rate})
    bar.set_postfix(loss=f"{mean:.4g}", img_s=f"{rate:.1f}", refresh=False)
    progress.loss_sum, progress.loss_count = 0.0, 0


def _validate(training, progress, val_fn, logger, out_dir, metadata, params_given):
    """Run val_fn on rank 0 with the plain model in eval mode; keep the best weights."""
    result = None
    if distributed.is_main():
        training.model.eval()
        result = {k: float(v) for k, v in val_fn(training.model).items()}
        training.model.train()
        logger.write({"step": progress.step, **{f"val_{k}": v for k, v in result.items()}})
        score = result.get("psnr")
        if out_dir and score is not None and (progress.best_psnr is None
                                              or score > progress.best_psnr):
            progress.best_psnr = score
            ckpt.save_tensors(out_dir / ckpt.BEST_NAME,
                              weight_tensors(training.model, training.params if params_given
                                             else None),
                              {**weight_metadata(training.model, params_given, metadata),
                               "step": progress.step, "val": result})
    distributed.barrier()
    return result


def _save(training, progress, out_dir, metadata, params_given) -> None:
    if out_dir is not None and distributed.is_main():
        ckpt.save_checkpoint(out_dir / ckpt.CHECKPOINT_DIR, progress.step,
                             weight_tensors(training.model,
                                            training.params if params_given else None),
                             weight_metadata(training.model, params_given, metadata),
                             _state_dict(training, progress),
                             keep=training.config.keep_checkpoints)
    distributed.barrier()


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def _check_fresh(out_dir: Path | None, resume: bool) -> None:
    """Refuse to mix a new run into an old one. Rank 0 looks (before anyone writes) and every
    rank learns the verdict, so that all of them raise together instead of some hanging."""
    if out_dir is None or resume:
        return
    taken = distributed.is_main() and ((out_dir / METRICS_NAME).exists()
                                       or bool(ckpt.list_checkpoints(out_dir / ckpt.CHECKPOINT_DIR)))
    if distributed.mean_across_ranks(float(taken)) > 0:
        raise FitError(f"{out_dir}: already holds a training run; resume it or use a new folder")


def fit(model: nn.Module, batches: BatchSource, config: LoopConfig, *,
        params: Sequence[nn.Parameter] | None = None, val_fn: ValFn | None = None,
        out_dir: str | Path | None = None, resume: bool = False,
        metadata: dict[str, Any] | None = None) -> FitResult:
    """Train `model` for `config.steps` optimizer steps in total.

    batches: `batches(start)` returns an iterator of {"lq", "gt"} float Bx3xHxW batches
        starting at batch number `start` (0, or the step a resumed run continues from), so a
        resumed run sees exactly the batches an uninterrupted one would.
    params: the parameters to train (default: all that require grad). With `params`,
        checkpoints and best weights hold only those tensors (format "trainable-subset").
    val_fn: `val_fn(model) -> {"psnr": .., "ssim": ..}` run every `val_every` steps and at the
        end, on rank 0, with the model in eval mode; the best PSNR's weights go to
        out_dir/best.safetensors.
    out_dir: where metrics.jsonl, checkpoints/ and best weights go (None: nothing written).
    resume: continue from the newest checkpoint in out_dir/checkpoints (from 0 if none).
    metadata: extra keys for the weight files' metadata (e.g. {"preset": name}).
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    _check_fresh(out_dir, resume)
    params_given = params is not None
    training = make_training(model, config, params)
    progress = _Progress()
    start = _restore(training, progress, out_dir / ckpt.CHECKPOINT_DIR,
                     params_given) if (resume and out_dir) else 0
    if start > config.steps:
        raise FitError(f"{out_dir}: checkpoint at step {start} is past steps={config.steps}")
    logger = _Logger(out_dir, distributed.is_main(), start)
    bar = _progress_bar(config, start, distributed.is_main())
    last_val, pending, iterator = None, None, iter(batches(start))
    began = interval_start = time.perf_counter()
    images = interval_images = 0
    try:
        while progress.step < config.steps:
            batch = _next_batch(iterator, progress.step)
            loss = training.step(batch["lq"], batch["gt"])
            progress.step += 1
            pending = loss if pending is None else pending + loss  # no host sync per step
            progress.loss_count += 1
            interval_images += batch["lq"].shape[0]
            bar.update(1)
            if _due(progress.step, config.log_every, config.steps) or _due(
                    progress.step, config.ckpt_every, config.steps):
                progress.loss_sum, pending = progress.loss_sum + float(pending), None
            if _due(progress.step, config.log_every, config.steps):
                now = time.perf_counter()
                _log_interval(training, progress, logger, bar, interval_images,
                              now - interval_start)
                images += interval_images
                interval_start, interval_images = now, 0
            if val_fn is not None and _due(progress.step, config.val_every, config.steps):
                last_val = _validate(training, progress, val_fn, logger, out_dir, metadata,
                                     params_given)
            if _due(progress.step, config.ckpt_every, config.steps):
                _save(training, progress, out_dir, metadata, params_given)
    finally:
        bar.close()
        logger.close()
    seconds = time.perf_counter() - began
    return FitResult(progress.step, start, progress.last_loss, last_val, progress.best_psnr,
                     seconds, (images + interval_images) * distributed.world_size()
                     / max(seconds, 1e-9))

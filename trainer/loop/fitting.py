"""The loop: `fit` runs a model's optimizer steps over a batch source, logging, validating and
checkpointing on schedule (see trainer.loop for the recipe)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from torch import nn

from trainer import checkpoint as ckpt
from trainer import distributed
from trainer.loop.checkpoints import RunProgress, save_best_weights, save_run_checkpoint
from trainer.loop.config import BatchSource, FitError, FitResult, LoopConfig, ValFn
from trainer.loop.metrics_log import MetricsLog, progress_bar
from trainer.loop.resume import check_fresh, restore_run
from trainer.loop.step import make_training


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
            save_best_weights(training, progress, out_dir, metadata, params_given, result)
    distributed.barrier()
    return result


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


def fit(model: nn.Module, batches: BatchSource, config: LoopConfig, *,
        params: Sequence[nn.Parameter] | None = None, val_fn: ValFn | None = None,
        out_dir: str | Path | None = None, resume: bool = False,
        metadata: dict[str, Any] | None = None,
        condition: Callable[[dict], None] | None = None) -> FitResult:
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
    condition: called with each batch before its update, to set what the batch's other keys
        ask of the model (a level adapter's per-image levels).
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    check_fresh(out_dir, resume)
    params_given = params is not None
    training = make_training(model, config, params)
    progress = RunProgress()
    start = restore_run(training, progress, out_dir / ckpt.CHECKPOINT_DIR,
                     params_given) if (resume and out_dir) else 0
    if start > config.steps:
        raise FitError(f"{out_dir}: checkpoint at step {start} is past steps={config.steps}")
    logger = MetricsLog(out_dir, distributed.is_main(), start)
    bar = progress_bar(config, start, distributed.is_main())
    last_val, pending, iterator = None, None, iter(batches(start))
    began = interval_start = time.perf_counter()
    images = interval_images = 0
    try:
        while progress.step < config.steps:
            batch = _next_batch(iterator, progress.step)
            if condition is not None:
                condition(batch)
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
                save_run_checkpoint(training, progress, out_dir, metadata, params_given)
    finally:
        bar.close()
        logger.close()
    seconds = time.perf_counter() - began
    return FitResult(progress.step, start, progress.last_loss, last_val, progress.best_psnr,
                     seconds, (images + interval_images) * distributed.world_size()
                     / max(seconds, 1e-9))

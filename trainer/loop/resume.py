"""Continuing a run from its newest checkpoint exactly, and refusing to mix a new run into an
old one."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from pipelines.files import remove_stale_temporaries
from trainer import checkpoint as ckpt
from trainer import distributed
from trainer.loop.checkpoints import RunProgress
from trainer.loop.config import FitError, LoopConfig
from trainer.loop.metrics_log import METRICS_NAME
from trainer.loop.step import Training

# Config fields a resumed run must share with its checkpoint: they change the optimisation.
RESUME_INVARIANTS = ("steps", "lr", "lr_min", "weight_decay", "betas", "loss", "grad_clip")


def check_resume_config(saved: dict, config: LoopConfig, source: Path) -> None:
    now = asdict(config)
    for name in RESUME_INVARIANTS:
        old, new = saved.get(name), now[name]
        if isinstance(new, tuple):
            new = list(new)
        if old != new:
            raise FitError(f"{source}: cannot resume, the checkpoint was trained with "
                           f"{name}={old} but this run has {name}={new}")


def restore_run(training: Training, progress: RunProgress, folder: Path,
                params_given: bool) -> int:
    """Load the newest complete checkpoint in `folder` into the run; its step (0 if none)."""
    if distributed.is_main():  # the only writer; nothing is being written at start-up
        remove_stale_temporaries(folder)
    latest = ckpt.latest_checkpoint(folder)
    if latest is None:
        return 0
    step, weights_path, state_path = latest
    state = ckpt.load_train_state(state_path)
    check_resume_config(state["config"], training.config, state_path)
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


def check_fresh(out_dir: Path | None, resume: bool) -> None:
    """Refuse to mix a new run into an old one. Rank 0 looks (before anyone writes) and every
    rank learns the verdict, so that all of them raise together instead of some hanging."""
    if out_dir is None or resume:
        return
    checkpoints = out_dir / ckpt.CHECKPOINT_DIR
    taken = distributed.is_main() and ((out_dir / METRICS_NAME).exists()
                                       or bool(ckpt.list_checkpoints(checkpoints)))
    if distributed.mean_across_ranks(float(taken)) > 0:
        raise FitError(f"{out_dir}: already holds a training run; resume it or use a new folder")

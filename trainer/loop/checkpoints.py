"""What a run's checkpoints hold: the weights (all, or only the trained subset), their metadata,
and the training state (optimizer, schedule, scaler, RNGs, the run's own bookkeeping)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from trainer import checkpoint as ckpt
from trainer import distributed
from trainer.loop.step import Training


@dataclass
class RunProgress:
    """Mutable bookkeeping of a run, saved in every checkpoint."""

    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    best_psnr: float | None = None
    last_loss: float | None = None


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


def train_state(training: Training, progress: RunProgress) -> dict[str, Any]:
    """The state file's contents: tensors and builtins only (torch.load weights_only-safe)."""
    return {"step": progress.step,
            "optimizer": training.optimizer.state_dict(),
            "scheduler": training.scheduler.state_dict(),
            "scaler": training.scaler.state_dict(),
            "rng": ckpt.rng_states(),
            "progress": {k: v for k, v in asdict(progress).items() if k != "step"},
            "config": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in asdict(training.config).items()}}


def _weights(training: Training, params_given: bool) -> dict:
    return weight_tensors(training.model, training.params if params_given else None)


def save_run_checkpoint(training: Training, progress: RunProgress, out_dir: Path | None,
                        metadata: dict | None, params_given: bool) -> None:
    """Rank 0 writes checkpoints/step-N.{safetensors,state.pt}; every rank waits for it."""
    if out_dir is not None and distributed.is_main():
        ckpt.save_checkpoint(out_dir / ckpt.CHECKPOINT_DIR, progress.step,
                             _weights(training, params_given),
                             weight_metadata(training.model, params_given, metadata),
                             train_state(training, progress),
                             keep=training.config.keep_checkpoints)
    distributed.barrier()


def save_best_weights(training: Training, progress: RunProgress, out_dir: Path,
                      metadata: dict | None, params_given: bool, val: dict[str, float]) -> None:
    """best.safetensors: the weights of the best validation PSNR so far, with its metrics."""
    ckpt.save_tensors(out_dir / ckpt.BEST_NAME, _weights(training, params_given),
                      {**weight_metadata(training.model, params_given, metadata),
                       "step": progress.step, "val": val})

"""Defaults shared by `trainer faig`, `trainer colora` and `trainer merge` (light: no torch)."""
from __future__ import annotations

# Same value as trainer.finetune.DEFAULT_BASE (a test keeps them equal): the final weights of a
# `trainer pretrain` run with its default --out.
DEFAULT_BASE = "runs/pretrain/model.safetensors"


def pick_device(device: str | None) -> str:
    """The --device value checked (ConfigError naming it), or cuda when available else cpu."""
    from trainer.distributed import resolve_device
    return resolve_device(device)

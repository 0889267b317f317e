"""torchrun / DistributedDataParallel plumbing: process-group set-up, rank queries, splitting.

`torchrun --nproc_per_node N -m trainer pretrain ...` sets RANK, WORLD_SIZE, LOCAL_RANK and
MASTER_ADDR/PORT; `init_from_env` then joins the group (gloo on CPU, nccl on CUDA) and picks
this rank's device. Without those variables everything here is a single-process no-op, so the
same code path runs with and without torchrun. Splitting the data across ranks is the
reader's job (`pipelines.reader.train_loader` reads the rank from the process group).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from degrade.errors import ConfigError

DEVICE_KINDS = ("cpu", "cuda")


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | None) -> str:
    """`device` checked (cpu, cuda or cuda:N, and CUDA present when asked for), or the default;
    ConfigError("device") otherwise, before anything is loaded or written."""
    if not device:
        return default_device()
    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError):
        kind = None
    if kind is None or kind.type not in DEVICE_KINDS:
        raise ConfigError("device", f"{device!r} is not a device this toolkit runs on; "
                          f"use {' or '.join(DEVICE_KINDS)} (or cuda:N)")
    if kind.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{device!r} asked for, but this torch ({torch.__version__}) "
                          "sees no CUDA device; use cpu")
    if kind.type == "cuda" and kind.index is not None and kind.index >= torch.cuda.device_count():
        raise ConfigError("device", f"{device!r} asked for, but there are only "
                          f"{torch.cuda.device_count()} CUDA device(s)")
    return device


def init_from_env(device: str | None = None) -> DistContext:
    """Join the process group torchrun describes (if any) and return this rank's context.

    `device` "cpu"/"cuda" (default: cuda when available); under torchrun a CUDA rank uses
    cuda:LOCAL_RANK.
    """
    device = resolve_device(device)
    kind = torch.device(device).type
    if not launched_by_torchrun():
        return DistContext(0, 1, 0, torch.device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if kind == "cuda":
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if kind == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, chosen)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def mean_across_ranks(value: float) -> float:
    """The mean of a Python float over all ranks (the value itself when not distributed)."""
    if not is_distributed():
        return value
    backend_cuda = dist.get_backend() == "nccl"
    tensor = torch.tensor([value], dtype=torch.float64,
                          device="cuda" if backend_cuda else "cpu")
    dist.all_reduce(tensor)
    return float(tensor.item()) / world_size()


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` when running distributed, else the model."""
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


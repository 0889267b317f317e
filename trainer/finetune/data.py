"""Training and FAIG batches from (name, lq, gt) uint8 pairs."""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch

from degrade.crops import random_window
from degrade.seeding import FINETUNE_BATCH, sample_seed
from pipelines.batching import image_to_tensor

Pair = tuple[str, np.ndarray, np.ndarray]
LOG = logging.getLogger("trainer.finetune")


def pair_batches(pairs: Sequence[Pair], batch: int, patch: int, seed: int,
                 levels: Sequence[float] | None = None) -> Callable:
    """A trainer.loop BatchSource: batch number b holds `batch` aligned random crops (and
    flips) drawn from (seed, b) alone, so a run is the same whatever resumes it. levels: one
    level c per pair, given with each batch as "level" (level adapters)."""
    if not pairs:
        raise ValueError("pairs: no training pairs")
    if levels is not None and len(levels) != len(pairs):
        raise ValueError(f"levels: {len(levels)} given for {len(pairs)} pairs")
    size = min(patch, *(min(lq.shape[:2]) for _, lq, _ in pairs))
    if size < patch:
        LOG.warning("note: patch %d is larger than the smallest training pair (%d pixels a "
                    "side); training on %dx%d crops", patch, size, size, size)
    tensors = [(image_to_tensor(lq), image_to_tensor(gt)) for _, lq, gt in pairs]

    def batches(start: int):
        number = start
        while True:
            rng = np.random.default_rng(sample_seed(seed, number, FINETUNE_BATCH))
            chosen = []
            crops = [_random_crop(*tensors[_choose(rng, len(tensors), chosen)], size, rng)
                     for _ in range(batch)]
            item = {"lq": torch.stack([c[0] for c in crops]), "gt": torch.stack([c[1] for c in crops])}
            if levels is not None:
                item["level"] = torch.tensor([levels[i] for i in chosen], dtype=torch.float32)
            yield item
            number += 1
    return batches


def _choose(rng: np.random.Generator, count: int, chosen: list[int]) -> int:
    chosen.append(int(rng.integers(count)))
    return chosen[-1]


def _random_crop(lq: torch.Tensor, gt: torch.Tensor, size: int, rng: np.random.Generator):
    y, x = random_window(rng, lq.shape[1:], size)
    lq, gt = lq[:, y:y + size, x:x + size], gt[:, y:y + size, x:x + size]
    if rng.random() < 0.5:
        lq, gt = lq.flip(-1), gt.flip(-1)
    return lq, gt


def faig_batches(pairs: Sequence[Pair], limit: int = 16,
                 batch: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Whole images of the first `limit` pairs for FAIG, in (Bx3xHxW, Bx3xHxW) batches of up to
    `batch` consecutive pairs of one size. FAIG weights every image alike however they are
    batched; a GPU at batch 1 is mostly idle."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    groups: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    for _, lq, gt in list(pairs)[:limit]:
        pair = (image_to_tensor(lq), image_to_tensor(gt))
        if groups and len(groups[-1]) < batch and groups[-1][0][0].shape == pair[0].shape:
            groups[-1].append(pair)
        else:
            groups.append([pair])
    return [(torch.stack([lq for lq, _ in group]), torch.stack([gt for _, gt in group])) for group in groups]


def faig_batch_size(device: str) -> int:
    """Images per FAIG pass: 8 on a GPU, 4 on the CPU (measured figures in
    docs/benchmarks.md)."""
    return 8 if str(device).startswith("cuda") else 4

"""Single-op training samples: some images of each training batch are redrawn as their clean
crop under one op of the pool, with params from the op's own sampler (PROD's ranges), labelled
with that op alone at its level.

Shards hold PROD chains of 1 to N ops, so an image degraded by one op alone is rare in training
(1 / N of the chains, split over K ops), while single degradations are what the estimator's
targets measure and what a photograph most often carries.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from degrade.imageconv import float_to_uint8, uint8_to_float


def redraw_single(lq: torch.Tensor, gt: torch.Tensor, presence: np.ndarray, level: np.ndarray,
                  ops: Sequence[str], count: int, rng: np.random.Generator):
    """Replace `count` samples of the batch (chosen by `rng`) by their clean image `gt` under
    one op of `ops` (the estimator's op list, chosen uniformly) with params drawn as PROD draws
    them; their labels become that op alone at its level. `lq` and `gt` are uint8
    B x 3 x H x W, as the shards store them. Returns new (lq, presence, level); the inputs are
    not modified."""
    from degrade.registry import OPS

    if not ops or count <= 0:
        return lq, presence, level
    if lq.dtype != torch.uint8 or gt.dtype != torch.uint8:
        raise ValueError(f"redraw_single takes uint8 images, got {lq.dtype} and {gt.dtype}")
    lq, presence, level = lq.clone(), presence.copy(), level.copy()
    for sample in rng.permutation(lq.shape[0])[:count]:
        index = int(rng.integers(len(ops)))
        op = OPS[ops[index]]
        clean = uint8_to_float(np.ascontiguousarray(gt[sample].permute(1, 2, 0).numpy()))
        params = op.sample_params(rng, clean.shape)
        lq[sample] = torch.from_numpy(float_to_uint8(op.apply(clean, params))).permute(2, 0, 1)
        presence[sample] = 0.0
        level[sample] = 0.0
        presence[sample, index] = 1.0
        level[sample, index] = op.severity.level(params)
    return lq, presence, level

"""Single-op training samples: some images of each training batch are redrawn as their clean
crop under one op alone, labelled with that op alone at its level. `redraw_samples` is the
shared mechanics (a short chain of drawn steps, labelled with them); `redraw_single` draws one
op from the whole pool with PROD's own params (`wide.redraw_wide` draws beyond PROD's ranges,
`camera.redraw_camera` a camera's faint noise then JPEG).

Shards hold PROD chains of 1 to N ops, so an image degraded by one op alone is rare in training
(1 / N of the chains, split over K ops), while single degradations are what the estimator's
targets measure and what a photograph most often carries.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from degrade.imageconv import float_to_uint8, uint8_to_float

# rng -> the steps to apply in order: (column of the op in the estimator's list, op name,
# params, label level) each
OpDraw = Callable[[np.random.Generator], list[tuple[int, str, dict, float]]]
# (float image, step name, params) -> the image after the step
StepApply = Callable[[np.ndarray, str, dict], np.ndarray]


def apply_pool_op(image: np.ndarray, name: str, params: dict) -> np.ndarray:
    """A step that is an op of the pool: the op's own apply."""
    from degrade.registry import OPS

    return OPS[name].apply(image, params)


def redraw_samples(lq: torch.Tensor, gt: torch.Tensor, presence: np.ndarray, level: np.ndarray,
                   count: int, rng: np.random.Generator, draw: OpDraw, caller: str,
                   apply_step: StepApply = apply_pool_op):
    """Replace `count` samples of the batch (chosen by `rng`) by their clean image `gt` under
    the steps `draw(rng)` gives, each applied by `apply_step` (the pool's ops by default); their
    labels become the steps' columns alone at their levels. `lq` and `gt` are uint8
    B x 3 x H x W, as the shards store them. Returns new (lq, presence, level); the inputs are
    not modified."""
    if count <= 0:
        return lq, presence, level
    if lq.dtype != torch.uint8 or gt.dtype != torch.uint8:
        raise ValueError(f"{caller} takes uint8 images, got {lq.dtype} and {gt.dtype}")
    lq, presence, level = lq.clone(), presence.copy(), level.copy()
    for sample in rng.permutation(lq.shape[0])[:count]:
        steps = draw(rng)
        image = uint8_to_float(np.ascontiguousarray(gt[sample].permute(1, 2, 0).numpy()))
        presence[sample] = 0.0
        level[sample] = 0.0
        for column, name, params, value in steps:
            image = apply_step(image, name, params)
            presence[sample, column] = 1.0
            level[sample, column] = max(level[sample, column], value)
        lq[sample] = torch.from_numpy(float_to_uint8(image)).permute(2, 0, 1)
    return lq, presence, level


def redraw_single(lq: torch.Tensor, gt: torch.Tensor, presence: np.ndarray, level: np.ndarray,
                  ops: Sequence[str], count: int, rng: np.random.Generator):
    """`redraw_samples` with one op of `ops` (the estimator's op list, chosen uniformly) and
    params drawn as PROD draws them, labelled at the op's level."""
    from degrade.registry import OPS

    def draw(rng):
        column = int(rng.integers(len(ops)))
        op = OPS[ops[column]]
        params = op.sample_params(rng, tuple(gt.shape[2:]) + (3,))
        return [(column, ops[column], params, op.severity.level(params))]

    if not ops:
        return lq, presence, level
    return redraw_samples(lq, gt, presence, level, count, rng, draw, "redraw_single")

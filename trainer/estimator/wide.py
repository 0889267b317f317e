"""Training samples beyond the range PROD samples: some images of each training batch are
redrawn as their clean crop under one settable op (Gaussian noise, JPEG) at a level drawn from
the op's visibility floor to `level_span` (or the op's own limit), labelled with that level on
degrade's linear scale. Shards hold PROD's ranges only (noise sigma <= 30, JPEG quality >= 30),
but level-conditioned adapters are used up to sigma 75 and quality 10, where `--level auto`
must not saturate at the sampled range's top.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from trainer.estimator.singles import redraw_samples


@dataclass(frozen=True)
class WideOp:
    """One op that can be set beyond its sampled range: levels drawn in [low, high]."""

    name: str
    index: int  # its position in the estimator's op list
    low: float
    high: float


def wide_ops(ops: Sequence[str], level_span: float) -> list[WideOp]:
    """The ops of `ops` whose strength can be set (degrade's `params_at`), with the level
    range they are redrawn over: their visibility floor to `level_span` or their limit."""
    from degrade.registry import OPS

    found = []
    for index, name in enumerate(ops):
        severity = OPS[name].severity
        if severity.params_at is None:
            continue
        found.append(WideOp(name, index, severity.floor_level,
                            settable_ceiling(name, level_span)))
    return found


@lru_cache(maxsize=None)
def settable_ceiling(op: str, level_span: float) -> float:
    """The highest linear level up to `level_span` that `op` can be set to (JPEG stops at
    quality 1): degrade's nearest settable value on the way back to the sampled range's top."""
    from degrade.registry import OPS

    severity = OPS[op].severity
    natural = severity.nearest_settable(severity.natural(level_span), severity.natural(1.0))
    return severity.linear_level(natural)


@lru_cache(maxsize=None)
def level_ceilings(ops: tuple[str, ...], level_span: float) -> np.ndarray:
    """The highest level each op can mean: its settable ceiling for the ops training redraws,
    1 (the sampled range's top, all their labels reach) for the others."""
    from degrade.registry import OPS

    return np.array([settable_ceiling(name, level_span) if OPS[name].severity.params_at
                     else 1.0 for name in ops], np.float32)


def redraw_wide(lq: torch.Tensor, gt: torch.Tensor, presence: np.ndarray, level: np.ndarray,
                ops: Sequence[WideOp], count: int, rng: np.random.Generator):
    """`singles.redraw_samples` with one op of `ops` at a level drawn uniformly from its range,
    labelled at that level."""
    from degrade.registry import OPS

    def draw(rng):
        op = ops[int(rng.integers(len(ops)))]
        severity = OPS[op.name].severity
        natural = severity.snap(severity.natural(rng.uniform(op.low, op.high)))
        return [(op.index, op.name, severity.params_at(natural, rng),
                 severity.linear_level(natural))]

    if not ops:
        return lq, presence, level
    return redraw_samples(lq, gt, presence, level, count, rng, draw, "redraw_wide")

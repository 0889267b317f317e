"""DoRA (weight-decomposed low-rank adaptation; Liu et al., ICML 2024): a layer's weight becomes

    W = m * V / ||V||_c,   V = W0 + (alpha / r) B A

with m one learned magnitude per output unit (starting at ||W0||_c, so W = W0 at step 0) and
||.||_c the norm of each output unit's row of the d x k weight matrix. The weight change
W - W0 is a full d x k matrix, merged exactly like any other. `dora` gives every conv/linear
layer one rank (like lora); `codora` takes CoLoRA's FAIG-sized ranks and bias/norm tuning
unchanged and adds the magnitudes.
"""
from __future__ import annotations

import torch

from trainer.adapters.allocation import plan_by_contribution, plan_uniform
from trainer.adapters.configs import BudgetConfig, RankConfig
from trainer.adapters.layer import LowRank
from trainer.adapters.registry import Method, register_method


def row_norms(weight: torch.Tensor) -> torch.Tensor:
    """||.||_c: the Euclidean norm of each output unit's weights."""
    return weight.reshape(weight.shape[0], -1).norm(dim=1)


class WeightDecomposed(LowRank):
    """DoRA's variant: LoRA's factors for the direction plus a magnitude per output unit."""

    factor_names = ("lora_A", "lora_B", "magnitude")

    def __init__(self, weight: torch.Tensor, rank: int, alpha: float | None = None,
                 generator: torch.Generator | None = None):
        super().__init__(weight, rank, alpha, generator)
        self.magnitude = torch.nn.Parameter(row_norms(weight.detach()).clone())

    @staticmethod
    def parameter_count(rank: int, d: int, k: int) -> int:
        return rank * (d + k) + d

    def delta_weight(self, weight: torch.Tensor) -> torch.Tensor:
        direction = weight + self.low_rank_delta(weight)
        # At B = 0 the norms equal the magnitudes bit for bit: the scale is exactly 1.
        norms = row_norms(direction).clamp_min(torch.finfo(direction.dtype).tiny)
        scale = (self.magnitude / norms).view(-1, *([1] * (weight.dim() - 1)))
        return scale * direction - weight


def _plan_dora(model, config, scores=None, kind_of=None):
    return plan_uniform(model, config.budget, config.rank, "dora", WeightDecomposed)


def _plan_codora(model, config, scores, kind_of):
    return plan_by_contribution(model, scores, config.budget, kind_of, "codora", WeightDecomposed)


register_method(Method("dora", "DoRA", RankConfig, _plan_dora, WeightDecomposed,
                       summary="DoRA: one rank everywhere, a magnitude per output unit"))
register_method(Method("codora", "CoDoRA", BudgetConfig, _plan_codora, WeightDecomposed,
                       needs_scores=True,
                       summary="DoRA with CoLoRA's FAIG-sized ranks and bias/norm tuning"))

"""Level-conditioned methods (the hyper-network paper's `k = c w + b`, trainer.adapters.levels).

levels: CoLoRA's FAIG-sized ranks and tuned bias/norm vectors, every one with two terms,
    dW(c) = B0 A0 + c B1 A1 and v(c) = v0 + c v1; the budget counts both terms (each term is
    allocated half of it, so the ranks are CoLoRA's at budget / 2).
levels-full: the paper's form: every parameter in full, W(c) = W0 + c W1, W0 starting at the
    pre-trained base and W1 at zero (twice the model's parameters).

Both run the level term at c - `centre` (config; 0 by default, the paper's form; 0 in files
from before it existed). The same functions of c, written around another c: the constant term
is the adapter of c = centre. Where the terms are anchored decides which end of the trained
range a short training serves best (trainer.adapters.levels.centred anchors them at the middle;
measured in docs/levels.md).
"""
from __future__ import annotations

import dataclasses
import math

from trainer.adapters.allocation import plan_by_contribution, plan_full
from trainer.adapters.configs import BudgetConfig, MethodConfig
from trainer.adapters.layer import LowRank
from trainer.adapters.plan import AdapterPlan
from trainer.adapters.registry import Method, register_method

TERMS = 2  # the constant term and the level term


def _check_centre(centre: float) -> None:
    if not math.isfinite(centre):
        raise ValueError(f"centre: {centre} must be a finite number")


@dataclasses.dataclass(frozen=True)
class LevelsConfig(BudgetConfig):
    """`levels`: CoLoRA's budget; centre: the c the constant term stands for."""

    centre: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _check_centre(self.centre)


@dataclasses.dataclass(frozen=True)
class LevelsFullConfig(MethodConfig):
    """`levels-full`: centre, the c the constant term stands for."""

    centre: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        _check_centre(self.centre)


def both_terms(plan: AdapterPlan, method: str, budget: float | None) -> AdapterPlan:
    """The plan of one term with every item charged for both terms."""
    layers = tuple(dataclasses.replace(p, params=TERMS * p.params, delta=TERMS * p.delta)
                   for p in plan.layers)
    return AdapterPlan(method, layers, plan.model_params, budget)


def _plan_levels(model, config, scores, kind_of):
    one_term = plan_by_contribution(model, scores, config.budget / TERMS, kind_of, "levels",
                                    LowRank)
    return both_terms(one_term, "levels", config.budget)


def _plan_levels_full(model, config, scores=None, kind_of=None):
    return both_terms(plan_full(model), "levels-full", None)


register_method(Method("levels", "Levels", LevelsConfig, _plan_levels, LowRank,
                       needs_scores=True, levels=True,
                       summary="level-conditioned CoLoRA: B0A0 + c B1A1 at FAIG ranks"))
register_method(Method("levels-full", "Levels (full)", LevelsFullConfig, _plan_levels_full, None,
                       levels=True, summary="level-conditioned full kernels: W0 + c W1"))

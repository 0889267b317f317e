"""The methods of the CoLoRA paper's comparison, and `composed` (files made by merging).

full: every parameter, in full. decoder: in full, every parameter of the decoder path.
lora: one LoRA rank for every conv/linear layer. colora: LoRA ranks and tuned bias/norm
vectors sized by FAIG contributions (trainer.adapters.allocation).
"""
from __future__ import annotations

from trainer.adapters.allocation import (plan_by_contribution, plan_decoder, plan_full,
                                         plan_uniform)
from trainer.adapters.configs import BudgetConfig, ComposedConfig, MethodConfig, RankConfig
from trainer.adapters.layer import LowRank
from trainer.adapters.registry import Method, register_method


def _plan_full(model, config, scores=None, kind_of=None):
    return plan_full(model)


def _plan_decoder(model, config, scores=None, kind_of=None):
    return plan_decoder(model)


def _plan_lora(model, config, scores=None, kind_of=None):
    return plan_uniform(model, config.budget, config.rank, "lora", LowRank)


def _plan_colora(model, config, scores, kind_of):
    return plan_by_contribution(model, scores, config.budget, kind_of, "colora", LowRank)


def _plan_composed(model, config, scores=None, kind_of=None):
    raise ValueError("method composed: composed adapters are made by `trainer merge "
                     "--as-adapter`, not trained")


register_method(Method("full", "Full", MethodConfig, _plan_full, None,
                       summary="every parameter, in full"))
register_method(Method("decoder", "Decoder-only", MethodConfig, _plan_decoder, None,
                       summary="every parameter of the decoder path, in full"))
register_method(Method("lora", "LoRA", RankConfig, _plan_lora, LowRank,
                       summary="one LoRA rank for every conv/linear layer"))
register_method(Method("colora", "CoLoRA", BudgetConfig, _plan_colora, LowRank,
                       needs_scores=True,
                       summary="LoRA ranks and bias/norm tuning from FAIG contributions"))
register_method(Method("composed", "Composed", ComposedConfig, _plan_composed, LowRank,
                       summary="weighted adapters merged into one (trainer merge --as-adapter)"))

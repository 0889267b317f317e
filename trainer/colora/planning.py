"""make_plan: the AdapterConfig's method applied to a model (and, for CoLoRA, FAIG scores)."""
from __future__ import annotations

from typing import Callable, Mapping

from torch import nn

from trainer.colora.allocation import (AdapterPlan, plan_colora, plan_decoder, plan_full,
                                       plan_lora)
from trainer.colora.config import AdapterConfig


def make_plan(model: nn.Module, config: AdapterConfig,
              scores: Mapping[str, float] | None = None,
              kind_of: Callable | None = None) -> AdapterPlan:
    """Which parameters `config.method` tunes on `model`, counted without training.

    scores: parameter name -> contribution (FAIG averaged over tasks), needed by colora only.
    kind_of: (name, param, owner module) -> conv|norm|bias|other; trainer.models.param_kind.
    """
    if config.method == "colora":
        if scores is None:
            raise ValueError("method colora needs FAIG scores (run trainer faig or pass --faig)")
        if kind_of is None:
            from trainer.models import param_kind as kind_of
        return plan_colora(model, scores, config.budget, kind_of)
    if config.method == "lora":
        return plan_lora(model, config.budget, config.rank)
    if config.method == "decoder":
        return plan_decoder(model)
    return plan_full(model)

"""make_plan: a registered method applied to a model (and, for FAIG-sized methods, scores)."""
from __future__ import annotations

from typing import Callable, Mapping

from torch import nn

from trainer.adapters.configs import method_config
from trainer.adapters.plan import AdapterPlan
from trainer.adapters.registry import all_methods, get_method


def make_plan(model: nn.Module, method: str, config=None,
              scores: Mapping[str, float] | None = None,
              kind_of: Callable | None = None) -> AdapterPlan:
    """Which tensors `method` tunes on `model` and at what rank, counted without training.

    config: the method's config (default: its defaults). scores: parameter name -> contribution
    (FAIG averaged over tasks), needed by methods that size ranks by contribution.
    kind_of: (name, param, owner module) -> conv|norm|bias|other; trainer.models.param_kind.
    """
    spec = get_method(method)
    config = method_config(method) if config is None else config
    if type(config) is not spec.config:
        raise ValueError(f"config: a {type(config).__name__} is not method {method}'s "
                         f"config ({spec.config.__name__})")
    if spec.needs_scores:
        if scores is None:
            raise ValueError(f"method {method} needs FAIG scores (`trainer faig` computes them)")
        if kind_of is None:
            from trainer.models import param_kind as kind_of
    return spec.plan(model, config, scores, kind_of)


def plan_counts(model: nn.Module, scores: Mapping[str, float] | None,
                options: Mapping | None = None) -> list[tuple[str, int, int]]:
    """(method, tuned parameters, model parameters) for every registered method, each with the
    options it takes; methods that need scores are left out without them."""
    rows = []
    for spec in all_methods():
        if spec.needs_scores and scores is None:
            continue
        config = method_config(spec.name, options, strict=False)
        plan = make_plan(model, spec.name, config, scores)
        rows.append((spec.name, plan.tuned_count, plan.model_params))
    return rows

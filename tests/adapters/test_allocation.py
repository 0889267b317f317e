import numpy as np
import pytest
import torch

from trainer.adapters import (AdapterPlan, BudgetConfig, RankConfig, allocate_ranks,
                              lora_candidates, make_plan, method_config)
from trainer.models import named_param_kinds


def _random_problem(seed):
    rng = np.random.default_rng(seed)
    n = 40
    scores = rng.lognormal(0.0, 2.0, n) * (rng.random(n) > 0.1)
    d, k = rng.integers(4, 200, n), rng.integers(4, 600, n)
    return scores, d + k, np.minimum(d, k)


@pytest.mark.parametrize("seed", range(5))
def test_allocation_hits_budget_and_is_monotone(seed):
    scores, costs, caps = _random_problem(seed)
    budget = 0.07 * float(np.sum(costs * caps))
    ranks = allocate_ranks(scores, costs, caps, budget)
    assert abs(np.sum(ranks * costs) - budget) <= 0.05 * budget
    assert np.all((ranks >= 0) & (ranks <= caps))
    assert np.all(ranks[scores == 0] == 0)
    for i in range(len(scores)):
        for j in range(len(scores)):
            if scores[i] >= scores[j]:
                assert ranks[i] >= min(ranks[j], caps[i])


def test_allocation_against_brute_force_lambda_scan():
    """Independent reference: scan lam finely, keep the closest total, compare ranks."""
    scores = np.array([3.0, 1.0, 0.5, 0.0, 2.0])
    costs, caps = np.array([10, 7, 5, 3, 9]), np.array([4, 6, 3, 2, 5])
    budget = 80.0
    best = None
    for lam in np.linspace(0, 20, 20001):
        ranks = np.minimum(caps, np.floor(lam * scores)).astype(int)
        gap = abs(np.sum(ranks * costs) - budget)
        if best is None or gap < best[0]:
            best = (gap, ranks)
    assert np.array_equal(allocate_ranks(scores, costs, caps, budget), best[1])


def test_equal_scores_get_equal_ranks_and_zero_scores_refused():
    ranks = allocate_ranks([1.0, 1.0, 1.0], [10, 10, 10], [5, 5, 5], 61)
    assert len(set(ranks.tolist())) == 1
    with pytest.raises(ValueError, match="zero"):
        allocate_ranks([0.0, 0.0], [1, 1], [1, 1], 1)


def test_colora_plan_on_toy_model(toy, depth_scores):
    plan = make_plan(toy, "colora", BudgetConfig(budget=0.3), scores=depth_scores(toy))
    total = sum(p.numel() for p in toy.parameters())
    assert plan.model_params == total
    assert abs(plan.tuned_count - 0.3 * total) <= 0.05 * 0.3 * total
    kinds = named_param_kinds(toy)
    assert all(kinds[name] in ("bias", "norm") for name in plan.tuned_parameters)
    for layer in plan.layers:
        assert 0 <= layer.rank <= min(layer.d, layer.k)
        assert layer.delta <= 1.0 or layer.rank == 1
        if layer.role == "lora":
            assert layer.params == layer.rank * (layer.d + layer.k)
            assert layer.delta == pytest.approx(layer.params / (layer.d * layer.k))
    assert AdapterPlan.from_dict(plan.to_dict()) == plan


def test_lora_decoder_full_plans(toy):
    total = sum(p.numel() for p in toy.parameters())
    lora = make_plan(toy, "lora", RankConfig(rank=2))
    assert set(lora.lora_ranks) == {name for name, _ in lora_candidates(toy)}
    assert lora.tuned_parameters == ()
    assert make_plan(toy, "full").tuned_count == total
    decoder = make_plan(toy, "decoder").tuned_parameters
    assert {n.split(".")[0] for n in decoder} == {"up", "dec", "mix", "out"}


def test_colora_needs_scores_and_all_of_them(toy, depth_scores):
    with pytest.raises(ValueError, match="FAIG"):
        make_plan(toy, "colora")
    scores = depth_scores(toy)
    scores.pop("mid.expand.weight")
    with pytest.raises(ValueError, match="mid.expand.weight"):
        make_plan(toy, "colora", scores=scores)
    with pytest.raises(ValueError, match="RankConfig is not method colora"):
        make_plan(toy, "colora", RankConfig(), scores=depth_scores(toy))


@pytest.mark.parametrize("method, options, message", [
    ("adalora", {}, "unknown method 'adalora'"), ("colora", {"budget": 0.0}, "budget"),
    ("colora", {"rank": 4}, "rank: method colora has no such option"),
    ("lora", {"rank": 0}, "rank"), ("dora", {"alpha": -1.0}, "alpha"),
    ("full", {"budget": 0.1}, "budget: method full"), ("lora", {"seed": -1}, "seed")])
def test_config_rejects_bad_values(method, options, message):
    with pytest.raises(ValueError, match=message):
        method_config(method, options)


def test_lenient_configs_take_what_each_method_has():
    assert method_config("full", {"budget": 0.1, "rank": 3}, strict=False).to_dict() == {"seed": 0}
    assert method_config("dora", {"budget": 0.1, "rank": 3}, strict=False) == \
        RankConfig(budget=0.1, rank=3)


def test_bias_and_norm_compete_by_contribution_per_value():
    """The paper's finding: bias/norm contribute several times more per parameter than conv
    weights. Scored so (6x per value), they must be tuned at the 7% budget, although their
    total scores are far below any conv layer's."""
    from trainer.models import create_model

    model = create_model("nafnet-tiny")
    kinds = named_param_kinds(model)
    per_value = {"conv": 1.0, "bias": 6.0, "norm": 6.0, "other": 1.0}
    jitter = np.random.default_rng(0).lognormal(0.0, 0.5, len(kinds))  # FAIG is never uniform
    scores = {name: per_value[kinds[name]] * p.numel() * j
              for (name, p), j in zip(model.named_parameters(), jitter)}
    plan = make_plan(model, "colora", BudgetConfig(budget=0.07), scores=scores)
    total = sum(p.numel() for p in model.parameters())
    assert abs(plan.tuned_count - 0.07 * total) <= 0.05 * 0.07 * total
    vectors = [name for name in scores if kinds[name] in ("bias", "norm")]
    assert len(plan.tuned_parameters) >= len(vectors) // 2
    weights = [scores[f"{n}.weight"] for n, _ in lora_candidates(model)]
    assert np.median([scores[name] for name in vectors]) < np.median(weights) / 4

"""Fine-tuning on the toy model: trains only what the plan tunes, deterministic, learns."""
import copy
import re

import pytest
import torch

from trainer.adapters import adapted_layers, get_method, method_config, method_names, plan_counts
from trainer.finetune import TrainConfig, finetune, pair_batches


TRAIN = TrainConfig(steps=3, batch=2, patch=8, lr=1e-2, progress=False)


@pytest.mark.parametrize("method", method_names())
def test_only_the_adapter_moves_and_runs_repeat(toy, depth_scores, make_pairs, method):
    scores = depth_scores(toy)
    config = method_config(method, {"budget": 0.3}, strict=False)
    runs = []
    levelled = get_method(method).levels  # trained on batches with a level per image
    for _ in range(2):
        model = copy.deepcopy(toy)
        batches = pair_batches(make_pairs(), TRAIN.batch, TRAIN.patch, TRAIN.seed,
                               [0.3, 0.6, 0.9]) if levelled else None
        result = finetune(model, make_pairs(), method, TRAIN, config, scores, batches=batches)
        state = {n: p.detach().clone() for n, p in model.named_parameters()}
        runs.append(state)
        for name, param in state.items():
            if not re.search(r"\.default(@level)?\.", name):  # the base: frozen
                assert torch.equal(param, toy.get_parameter(name.replace(".base_layer", ""))), name
        tuned = {f"{layer}.{leaf}" for layer, module in adapted_layers(model).items()
                 for leaf in (module.tuned["default"] if "default" in module.tuned else {})}
        assert tuned == set(result.plan.tuned_parameters)
        assert sum(p.numel() for n, p in model.named_parameters()
                   if re.search(r"\.default(@level)?\.", n)) == result.plan.tuned_count
    assert all(torch.equal(runs[0][n], runs[1][n]) for n in runs[0])


def test_plan_counts_without_training(toy, depth_scores):
    rows = plan_counts(toy, depth_scores(toy), {"budget": 0.3})
    assert [r[0] for r in rows] == method_names()
    full = next(r for r in rows if r[0] == "full")
    assert full[1] == full[2] == sum(p.numel() for p in toy.parameters())
    assert [r[0] for r in plan_counts(toy, None)] == ["decoder", "lora", "dora", "full",
                                                      "levels-full"]


@pytest.mark.parametrize("method", ["colora", "codora"])
def test_training_lowers_the_training_loss(toy, depth_scores, make_pairs, method):
    training = make_pairs(count=2, size=8)
    batch = next(iter(pair_batches(training, 4, 8, seed=0)(0)))

    def loss(model):
        with torch.no_grad():
            return float((model(batch["lq"]) - batch["gt"]).pow(2).mean())

    before = loss(toy)
    config = TrainConfig(steps=40, batch=4, patch=8, lr=1e-2, progress=False)
    finetune(toy, training, method, config, method_config(method, {"budget": 0.3}),
             depth_scores(toy))
    assert loss(toy) < 0.9 * before

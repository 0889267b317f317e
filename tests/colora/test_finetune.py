"""The fine-tuning library on the toy model: trains only what the plan tunes, deterministic."""
import copy

import numpy as np
import pytest
import torch

from trainer.colora import AdapterConfig, lora_layers
from trainer.finetune import TrainConfig, finetune, pair_batches, plan_counts


def _pairs(count=3, size=12):
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    noise = rng.integers(-20, 21, gt.shape)
    lq = np.clip(gt.astype(int) + noise, 0, 255).astype(np.uint8)
    return [(f"p{i}", lq[i], gt[i]) for i in range(count)]


TRAIN = TrainConfig(steps=3, batch=2, patch=8, lr=1e-2, progress=False)


def test_batches_depend_only_on_seed_and_number():
    first = pair_batches(_pairs(), 2, 8, seed=3)
    resumed = next(iter(pair_batches(_pairs(), 2, 8, seed=3)(1)))
    stream = iter(first(0))
    next(stream)
    second = next(stream)
    assert torch.equal(second["lq"], resumed["lq"]) and torch.equal(second["gt"], resumed["gt"])
    assert second["lq"].shape == (2, 3, 8, 8)


@pytest.mark.parametrize("method", ["colora", "lora", "decoder", "full"])
def test_only_planned_parameters_move_and_runs_repeat(toy, depth_scores, method):
    scores = depth_scores(toy)
    runs = []
    for _ in range(2):
        model = copy.deepcopy(toy)
        before = {n: p.detach().clone() for n, p in toy.named_parameters()}
        result = finetune(model, _pairs(), AdapterConfig(method=method, budget=0.3), TRAIN, scores)
        runs.append({n: p.detach().clone() for n, p in model.named_parameters()})
        tuned = set(result.plan.tuned_parameters)
        for name, param in model.named_parameters():
            plain = name.replace(".base_layer", "")
            if ".lora_" in name or plain not in before:
                continue
            moved = not torch.equal(param, before[plain])
            assert moved == (plain in tuned), name
        assert bool(lora_layers(model)) == (method in ("colora", "lora"))
    assert all(torch.equal(runs[0][n], runs[1][n]) for n in runs[0])


def test_plan_counts_without_training(toy, depth_scores):
    rows = plan_counts(toy, depth_scores(toy), budget=0.3)
    assert [r[0] for r in rows] == ["decoder", "lora", "colora", "full"]
    assert rows[-1][1] == rows[-1][2] == sum(p.numel() for p in toy.parameters())
    assert "colora" not in [r[0] for r in plan_counts(toy, None)]


def test_colora_training_lowers_the_training_loss(toy, depth_scores):
    from trainer.finetune import pair_batches

    pairs = _pairs(count=2, size=8)
    batch = next(iter(pair_batches(pairs, 4, 8, seed=0)(0)))

    def loss(model):
        with torch.no_grad():
            return float((model(batch["lq"]) - batch["gt"]).pow(2).mean())

    before = loss(toy)
    config = TrainConfig(steps=40, batch=4, patch=8, lr=1e-2, progress=False)
    finetune(toy, pairs, AdapterConfig(budget=0.3), config, depth_scores(toy))
    assert loss(toy) < 0.9 * before


def test_faig_batches_group_same_size_pairs_and_give_the_same_scores(toy):
    from trainer.faig import faig_scores
    from trainer.finetune import faig_batch_size, faig_batches

    pairs = _pairs(count=5, size=12)[:3] + _pairs(count=2, size=10) + _pairs(count=1, size=12)
    singles, grouped = faig_batches(pairs, limit=5), faig_batches(pairs, limit=5, batch=2)
    assert [lq.shape[0] for lq, _ in singles] == [1] * 5
    assert [tuple(lq.shape) for lq, _ in grouped] == [(2, 3, 12, 12), (1, 3, 12, 12), (2, 3, 10, 10)]
    assert torch.equal(torch.cat([lq for lq, _ in grouped if lq.shape[-1] == 12]),
                       torch.cat([lq for lq, _ in singles[:3]]))
    target = copy.deepcopy(toy)
    with torch.no_grad():
        for param in target.parameters():
            param.add_(0.05 * torch.randn_like(param))
    one_by_one, batched = faig_scores(toy, target, singles, steps=4), faig_scores(toy, target, grouped, steps=4)
    for name, value in one_by_one.items():
        assert batched[name] == pytest.approx(value, rel=1e-4, abs=1e-9), name
    assert faig_batch_size("cuda:0") == 8 and faig_batch_size("cpu") == 4
    with pytest.raises(ValueError, match="batch"):
        faig_batches(pairs, batch=0)

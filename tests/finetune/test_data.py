"""Training and FAIG batches from pairs; request errors rendered as options."""
import copy

import pytest
import torch

from trainer.finetune import AdaptError, faig_batch_size, faig_batches, option_message, pair_batches


def test_batches_depend_only_on_seed_and_number(make_pairs):
    first = pair_batches(make_pairs(), 2, 8, seed=3)
    resumed = next(iter(pair_batches(make_pairs(), 2, 8, seed=3)(1)))
    stream = iter(first(0))
    next(stream)
    second = next(stream)
    assert torch.equal(second["lq"], resumed["lq"]) and torch.equal(second["gt"], resumed["gt"])
    assert second["lq"].shape == (2, 3, 8, 8)


def test_faig_batches_group_same_size_pairs_and_give_the_same_scores(toy, make_pairs):
    from trainer.faig import faig_scores

    pairs = make_pairs(count=5, size=12)[:3] + make_pairs(count=2, size=10) + make_pairs(count=1, size=12)
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


def test_request_errors_name_fields_that_commands_render_as_options():
    error = AdaptError("train_count", "x: set `overwrite` or choose another `out`")
    assert option_message(error) == "--train-count x: set --overwrite or choose another --out"
    assert error.field == "train_count"

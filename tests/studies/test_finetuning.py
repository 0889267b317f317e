"""One fine-tuning run: batched restoration equals per-image restoration; runs are repeatable."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from studies.downstream import TaskData
from studies.finetuning import (finetune_and_score, restore_all, score_test_set,
                                           training_pairs)
from studies.pretraining import random_init
from studies.scales import get_scale
from trainer.metrics import psnr
from trainer.restore import restore_image


@pytest.fixture(scope="module")
def scale():
    return replace(get_scale("test"), finetune_steps=2, train_counts=(2, 3), faig_pairs=2)


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    gt = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3)]
    train = tuple((np.clip(g.astype(int) + 10, 0, 255).astype(np.uint8), g) for g in gt)
    sizes = [(32, 32), (32, 32), (24, 40)]  # two shapes: two batches
    test = tuple((f"t{i}", rng.integers(0, 256, (*s, 3), dtype=np.uint8),
                  rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for i, s in enumerate(sizes))
    return TaskData("toy", train, test)


def test_batched_restoration_matches_restore_image(scale, task):
    model = random_init(scale)
    images = [lq for _, lq, _ in task.test]
    batched = restore_all(model, images, "cpu")
    for image, out in zip(images, batched):
        single = restore_image(model, image, "cpu")
        assert np.abs(out.astype(int) - single.astype(int)).max() <= 1  # float reassociation
    expected = [psnr(out, gt) for out, (_, _, gt) in zip(batched, task.test)]
    assert score_test_set(model, task, "cpu") == expected


def test_runs_are_repeatable_and_leave_the_base_untouched(scale, task):
    base = random_init(scale)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    first = finetune_and_score(base, task, 2, "full", scale, seed=7, device="cpu")
    second = finetune_and_score(base, task, 2, "full", scale, seed=7, device="cpu")
    assert first.per_image == second.per_image
    assert first.tuned_params == first.model_params == sum(p.numel() for p in base.parameters())
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())


def test_lora_tunes_about_the_budget(scale, task):
    outcome = finetune_and_score(random_init(scale), task, 3, "lora", scale, seed=1, device="cpu")
    assert 0.03 < outcome.tuned_params / outcome.model_params < 0.12
    assert len(outcome.per_image) == 3


def test_training_pairs_are_the_first_n(task):
    pairs = training_pairs(task, 2)
    assert [name for name, _, _ in pairs] == ["toy-0000", "toy-0001"]
    assert pairs[1][1] is task.train[1][0]
    with pytest.raises(ValueError, match="4 training pairs asked, 3 prepared"):
        training_pairs(task, 4)

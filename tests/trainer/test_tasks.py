import numpy as np
import pytest

from trainer.tasks import TASKS, split_sources, synthesize_pairs, task_ops


def test_task_names_map_to_engine_ops():
    assert task_ops("blur") == ("gaussian_blur", "motion_blur")
    assert task_ops("noise") == ("gaussian_noise", "poisson_noise", "speckle_noise")
    assert task_ops("jpeg") == ("jpeg",) and task_ops("motion_blur") == ("motion_blur",)
    with pytest.raises(ValueError, match="unknown task 'fog'.*blur"):
        task_ops("fog")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_pairs_are_deterministic_single_degradations(task):
    first = synthesize_pairs(task, 3, 24, seed=7)
    again = synthesize_pairs(task, 3, 24, seed=7)
    other = synthesize_pairs(task, 3, 24, seed=8)
    for (name, lq, gt), (name2, lq2, gt2) in zip(first, again):
        assert name == name2 and np.array_equal(lq, lq2) and np.array_equal(gt, gt2)
        assert lq.shape == gt.shape == (24, 24, 3) and lq.dtype == np.uint8
        assert name.rsplit("-", 1)[1] in task_ops(task)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, other))


def test_blur_pairs_use_both_blur_ops():
    names = {name.rsplit("-", 1)[1] for name, _, _ in synthesize_pairs("blur", 12, 16)}
    assert names == {"gaussian_blur", "motion_blur"}


def test_train_and_test_use_disjoint_sources():
    sources = [f"img{i}.png" for i in range(5)]
    assert split_sources(sources, "test") == sources[-2:]
    assert split_sources(sources, "train") == sources[:-2]
    with pytest.raises(ValueError, match="split"):
        split_sources(sources, "val")
    with pytest.raises(ValueError, match="count"):
        synthesize_pairs("blur", 0, 16)


def test_draws_that_round_away_are_redrawn():
    """Small kernels (sigma 0.2) round back to the clean crop; such draws are redrawn (here
    pair 6's first draw did), so only crops no blur can change (near-flat) stay unchanged."""
    pairs = synthesize_pairs("blur", 32, 64, seed=0, split="test")
    assert not np.array_equal(pairs[6][1], pairs[6][2])
    unchanged = [gt for _, lq, gt in pairs if np.array_equal(lq, gt)]
    assert all(gt.std() < 2 for gt in unchanged)

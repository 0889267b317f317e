import numpy as np
import pytest

from degrade.registry import CANONICAL_ORDER, OPS, resolve_pool
from degrade.seeding import SEED_BOUND, sample_seed


def test_canonical_order_and_every_op_is_registered():
    assert CANONICAL_ORDER == ("gaussian_noise", "poisson_noise", "speckle_noise",
                               "gaussian_blur", "motion_blur", "jpeg", "rain")
    assert list(OPS) == list(CANONICAL_ORDER)
    for name in CANONICAL_ORDER:
        assert OPS[name].name == name


def test_resolve_pool():
    assert resolve_pool() == list(CANONICAL_ORDER)
    assert resolve_pool(k=2) == ["gaussian_noise", "poisson_noise"]
    assert resolve_pool("jpeg, rain,jpeg") == ["jpeg", "rain"]
    assert resolve_pool(["rain", "jpeg"], k=1) == ["rain"]


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "K=0"), ({"k": 8}, "K=8"), ({"ops": "jpeg", "k": 2}, "K=2"),
    ({"ops": "jpeg,haze"}, "'haze'"), ({"ops": ""}, "''"),
])
def test_resolve_pool_errors_name_the_culprit(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve_pool(**kwargs)


def test_sample_seed_is_a_pure_function_of_its_inputs():
    assert sample_seed(7, 3) == sample_seed(7, 3)
    seeds = {sample_seed(g, i, s) for g in range(3) for i in range(50) for s in range(3)}
    assert len(seeds) == 3 * 50 * 3
    assert all(0 <= seed < SEED_BOUND for seed in seeds)
    with pytest.raises(ValueError, match="index"):
        sample_seed(1, -1)

"""The op registry: every op once, the default pool, help lists, pool resolution."""
import pytest

from degrade.registry import (CANONICAL_ORDER, EXTRA_OPS, KNOWN_OPS, OPS, in_default_pool,
                              ops_help, resolve_pool)


def test_canonical_order_and_every_op_is_registered():
    assert CANONICAL_ORDER == ("gaussian_noise", "poisson_noise", "speckle_noise",
                               "gaussian_blur", "motion_blur", "jpeg", "rain")
    assert EXTRA_OPS == ("haze",)
    assert list(OPS) == list(KNOWN_OPS) == list(CANONICAL_ORDER + EXTRA_OPS)
    for name in KNOWN_OPS:
        assert OPS[name].name == name
        assert in_default_pool(name) == (name in CANONICAL_ORDER)


def test_help_lists_come_from_the_registry():
    from click.testing import CliRunner

    from degrade.cli import main
    text = ops_help()
    assert all(name in text for name in KNOWN_OPS) and "outside it: haze" in text
    for args in (["--help"], ["apply", "--help"], ["build-shards", "--help"]):
        output = " ".join(CliRunner().invoke(main, args).output.split())
        assert "haze" in output and "motion_blur" in output, args


def test_resolve_pool():
    assert resolve_pool() == list(CANONICAL_ORDER)
    assert resolve_pool(k=2) == ["gaussian_noise", "poisson_noise"]
    assert resolve_pool("jpeg, rain,jpeg") == ["jpeg", "rain"]
    assert resolve_pool(["rain", "jpeg"], k=1) == ["rain"]


@pytest.mark.parametrize("kwargs, message", [
    ({"k": 0}, "K=0"), ({"k": 8}, "K=8"), ({"ops": "jpeg", "k": 2}, "K=2"),
    ({"ops": "jpeg,fog"}, "'fog'"), ({"ops": ""}, "''"),
])
def test_resolve_pool_errors_name_the_culprit(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve_pool(**kwargs)

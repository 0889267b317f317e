"""Op severities: every registered op has a level in [0, 1], monotone in the damage it does,
and a natural unit whose value converts back and forth with the level."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from degrade.kernels import kernel_sigma, make_kernel
from degrade.noise import poisson_sigma, speckle_sigma
from degrade.registry import KNOWN_OPS, OPS


@pytest.mark.parametrize("name", KNOWN_OPS)
def test_sampled_levels_lie_in_the_unit_range_and_spread_over_it(name):
    rng = np.random.default_rng(0)
    severity = OPS[name].severity
    levels = [severity.level(OPS[name].sample_params(rng, (32, 32, 3))) for _ in range(300)]
    assert min(levels) >= 0.0 and max(levels) <= 1.0
    assert max(levels) - min(levels) > 0.3  # the level is informative over the sampled range
    assert 0.0 <= severity.floor_level < 0.5 and severity.unit


# (op, the parameter that sets the damage, values in increasing damage)
MONOTONE = [
    ("gaussian_noise", "sigma", [1.0, 3.0, 10.0, 30.0]),
    ("poisson_noise", "scale", [0.05, 0.5, 1.0, 3.0]),
    ("speckle_noise", "sigma", [0.05, 0.1, 0.3]),
    ("gaussian_blur", "sigma_x", [0.2, 0.8, 1.5, 3.0]),
    ("jpeg", "quality", [95, 80, 50, 30]),
    ("rain", "amount", [10, 100, 1000]),
    ("rain", "alpha", [0.3, 0.8, 1.3]),
    ("haze", "beta", [0.6, 1.0, 1.8]),
]


@pytest.mark.parametrize("name, key, values", MONOTONE)
def test_level_grows_with_the_damaging_parameter(name, key, values):
    params = OPS[name].sample_params(np.random.default_rng(1), (32, 32, 3))
    levels = []
    for value in values:
        changed = copy.deepcopy(params)
        changed[key] = value
        if name == "gaussian_blur":
            changed.update(sigma_y=value, theta=0.0, family="gaussian", beta=1.0, size=21)
        levels.append(OPS[name].severity.level(changed))
    assert all(a < b for a, b in zip(levels, levels[1:])), levels


def test_motion_level_grows_with_the_path_length():
    line = [[float(x), 0.0] for x in range(-2, 3)]
    longer = [[float(x), 0.0] for x in range(-10, 11)]
    severity = OPS["motion_blur"].severity
    assert severity.measure({"size": 5, "points": line}) == pytest.approx(4.0)
    assert severity.level({"size": 5, "points": line}) < \
        severity.level({"size": 21, "points": longer})


def test_natural_units_are_the_documented_closed_forms():
    assert OPS["gaussian_noise"].severity.measure({"sigma": 12.5}) == 12.5
    # Poisson at mid-grey: std of k / 256 with k ~ Poisson(128) is sqrt(128) / 256
    assert poisson_sigma(1.0) == pytest.approx(np.sqrt(128) / 256 * 255)
    assert speckle_sigma(0.2) == pytest.approx(0.5 * 0.2 * 255)
    assert OPS["jpeg"].severity.measure({"quality": 37}) == 37
    assert OPS["jpeg"].severity.level({"quality": 100 - 35}) == pytest.approx(0.5)


def test_blur_sigma_of_a_wide_gaussian_kernel_is_its_sigma():
    assert kernel_sigma(make_kernel("gaussian", 21, 2.0, 2.0, 0.0)) == pytest.approx(2.0, abs=0.01)
    # anisotropic: the root mean of the two variances
    assert kernel_sigma(make_kernel("gaussian", 21, 1.0, 2.0, 0.7)) == \
        pytest.approx(np.sqrt((1 + 4) / 2), abs=0.01)


@pytest.mark.parametrize("name", KNOWN_OPS)
def test_natural_and_level_convert_back_and_forth(name):
    severity = OPS[name].severity
    for level in (0.0, 0.25, 0.7, 1.0):
        assert severity.level_of(severity.natural(level)) == pytest.approx(level)
    assert severity.level_of(severity.natural(1.0) + (severity.full - severity.zero)) == 1.0
    assert severity.level_of(severity.natural(0.0) - (severity.full - severity.zero)) == 0.0


def test_nearest_settable_value_stops_at_the_ops_own_limit():
    from degrade.registry import OPS

    jpeg, noise = OPS["jpeg"].severity, OPS["gaussian_noise"].severity
    assert noise.accepts(60.0) and noise.nearest_settable(60.0, 30.0) == 60.0  # any sigma <= 255
    assert not jpeg.accepts(-20.0) and jpeg.accepts(1.0)
    edge = jpeg.nearest_settable(-20.0, 30.0)  # quality 1 is the last one; 0.5 still rounds to it
    assert 0.5 < edge < 0.5 + 1e-9 and jpeg.snap(edge) == 1.0
    assert not OPS["rain"].severity.accepts(100.0)  # no settable strength at all

"""The router against weights computed by hand (trainer.routing)."""
import math

import numpy as np
import pytest

from degrade.errors import ConfigError
from trainer.routing import (AdapterTask, Estimate, RouterConfig, RoutingError,
                                      cascade_order, check_tasks, label_estimate,
                                      parse_weights, range_fit, route)

TASKS = [AdapterTask("blur", ("gaussian_blur", "motion_blur"), (0.0, 1.0)),
         AdapterTask("noise", ("gaussian_noise", "speckle_noise"), (0.0, 0.5)),
         AdapterTask("jpeg", ("jpeg",), None)]
ESTIMATE = Estimate(
    probability={"gaussian_blur": 0.2, "motion_blur": 0.6, "gaussian_noise": 0.9,
                 "speckle_noise": 0.1, "jpeg": 0.3},
    level={"gaussian_blur": 0.5, "motion_blur": 0.4, "gaussian_noise": 0.7,
           "speckle_noise": 0.2, "jpeg": 0.8})


def test_probability_similarity_sum_normalised():
    # similarities: blur max(0.2, 0.6) = 0.6, noise 0.9, jpeg 0.3; sum 1.8
    weights = route(TASKS, ESTIMATE, RouterConfig("probability", None, "sum"))
    np.testing.assert_allclose(weights, [0.6 / 1.8, 0.9 / 1.8, 0.3 / 1.8])


def test_top_k_keeps_the_largest_and_renormalises():
    weights = route(TASKS, ESTIMATE, RouterConfig("probability", 2, "sum"))
    np.testing.assert_allclose(weights, [0.6 / 1.5, 0.9 / 1.5, 0.0])
    top1 = route(TASKS, ESTIMATE, RouterConfig("probability", 1, "sum"))
    np.testing.assert_allclose(top1, [0.0, 1.0, 0.0])


def test_softmax_with_temperature():
    weights = route(TASKS, ESTIMATE, RouterConfig("probability", None, "softmax", 0.5))
    exps = [math.exp(0.6 / 0.5), math.exp(0.9 / 0.5), math.exp(0.3 / 0.5)]
    np.testing.assert_allclose(weights, [e / sum(exps) for e in exps])
    # a tiny temperature is top-1 without overflow
    sharp = route(TASKS, ESTIMATE, RouterConfig("probability", None, "softmax", 1e-4))
    np.testing.assert_allclose(sharp, [0.0, 1.0, 0.0], atol=1e-12)


def test_strength_similarity_uses_level_and_range():
    # blur: max(0.2*0.5*1, 0.6*0.4*1) = 0.24; noise: gaussian 0.9*0.7*fit(0.7, [0, 0.5]) =
    # 0.63 * (1 - 0.2/0.25) = 0.126, speckle 0.1*0.2*1 = 0.02 -> 0.126; jpeg: 0.3*0.8 = 0.24
    weights = route(TASKS, ESTIMATE, RouterConfig("strength", None, "none"))
    np.testing.assert_allclose(weights, [0.24, 0.126, 0.24])
    assert range_fit(0.9, (0.0, 0.5)) == 0.0 and range_fit(0.3, None) == 1.0


def test_max_normalised_puts_the_most_similar_at_full_strength():
    # probability similarities 0.6, 0.9, 0.3: divided by the largest, 0.9
    weights = route(TASKS, ESTIMATE, RouterConfig("probability", None, "max"))
    np.testing.assert_allclose(weights, [0.6 / 0.9, 1.0, 0.3 / 0.9])
    # strength similarities 0.24, 0.126, 0.24 (test below): top-2 keeps blur and jpeg, both
    # at the largest, so both at 1
    top2 = route(TASKS, ESTIMATE, RouterConfig("strength", 2, "max"))
    np.testing.assert_allclose(top2, [1.0, 0.0, 1.0])


def test_nothing_found_gives_the_base_model():
    empty = Estimate({op: 0.0 for op in ESTIMATE.probability}, ESTIMATE.level)
    for how in ("sum", "max", "none"):
        np.testing.assert_array_equal(route(TASKS, empty, RouterConfig(normalise=how)),
                                      [0.0, 0.0, 0.0])
    # softmax of equal similarities: every adapter alike
    np.testing.assert_allclose(route(TASKS, empty, RouterConfig(normalise="softmax")),
                               [1 / 3] * 3)


def test_oracle_estimate_from_a_chain_record():
    record = {"version": 2, "ops": [{"name": "jpeg", "params": {"quality": 65}}]}
    estimate = label_estimate(record, ["jpeg", "gaussian_noise"])
    assert estimate.probability == {"jpeg": 1.0, "gaussian_noise": 0.0}
    assert estimate.level["jpeg"] == pytest.approx((100 - 65) / 70)
    np.testing.assert_allclose(route(TASKS[2:], estimate), [1.0])


def test_cascade_order_most_probable_first():
    assert cascade_order(TASKS, ESTIMATE) == [1, 0]
    low = Estimate({op: 0.1 for op in ESTIMATE.probability}, ESTIMATE.level)
    assert cascade_order(TASKS, low) == [0]


def test_adapters_the_router_cannot_weigh():
    with pytest.raises(RoutingError, match="'mystery' stores no task ops"):
        check_tasks([AdapterTask("mystery", ())], ["jpeg"], "the estimator")
    with pytest.raises(RoutingError, match="restores haze, which the estimator does not know"):
        check_tasks([AdapterTask("haze", ("haze",))], ["jpeg"], "the estimator")


def test_explicit_weights():
    np.testing.assert_array_equal(parse_weights("0.5, 0.3,0.2", 3), [0.5, 0.3, 0.2])
    with pytest.raises(ConfigError, match="2 weight.s. given for 3 adapter.s. .a, b, c."):
        parse_weights("0.5,0.5", 3, ["a", "b", "c"])
    with pytest.raises(ConfigError, match="not auto, oracle or"):
        parse_weights("auto-ish", 1)
    with pytest.raises(ConfigError, match="not a finite number"):
        parse_weights("nan", 1)


@pytest.mark.parametrize("options", [{"similarity": "cosine"}, {"normalise": "mean"},
                                     {"top_k": -1}, {"temperature": 0.0}])
def test_bad_router_settings(options):
    with pytest.raises(ConfigError):
        RouterConfig(**options)

"""Haze op: closed-form checks of the scattering model, ranges, validation, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from degrade.haze import (AIRLIGHT_RANGE, BETA_RANGE, HAZE, apply_haze, depth_proxy,
                          sample_haze_params)


def _params(**overrides):
    params = {"beta": 1.2, "airlight": 0.9, "gradient_weight": 0.5, "field_cells": 3,
              "field_seed": 7}
    params.update(overrides)
    return params


def _image(height=17, width=23, seed=0):
    return np.random.default_rng(seed).random((height, width, 3), dtype=np.float32)


def test_pure_vertical_gradient_matches_closed_form():
    image = _image()
    out = apply_haze(image, _params(gradient_weight=1.0))
    height = image.shape[0]
    for y in range(height):
        depth = 1.0 - y / (height - 1)
        t = np.exp(-1.2 * depth)
        expected = image[y] * t + 0.9 * (1.0 - t)
        np.testing.assert_allclose(out[y], expected, atol=1e-6)


def test_one_cell_field_is_a_constant_depth_from_the_seed():
    image = _image()
    out = apply_haze(image, _params(gradient_weight=0.0, field_cells=1, field_seed=123))
    depth = np.random.default_rng(123).random((1, 1))[0, 0]
    t = np.exp(-1.2 * depth)
    np.testing.assert_allclose(out, image * t + 0.9 * (1 - t), atol=1e-6)


def test_zero_beta_is_identity_and_output_keeps_shape_and_dtype():
    image = _image(5, 9)
    out = apply_haze(image, _params(beta=0.0))
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, image, atol=1e-7)


def test_haze_pulls_towards_airlight_more_at_the_top():
    image = np.zeros((64, 64, 3), np.float32)
    out = apply_haze(image, _params(gradient_weight=1.0, airlight=1.0))
    assert out[0].mean() > out[-1].mean() + 0.3  # far (top) is brighter: more airlight
    assert np.all(out >= 0) and np.all(out <= 1)


def test_depth_proxy_is_smooth_and_in_unit_range():
    depth = depth_proxy(96, 128, 0.3, 4, 5)
    assert depth.min() >= 0 and depth.max() <= 1
    assert np.abs(np.diff(depth, axis=1)).max() < 0.05  # no jumps between neighbours


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 7, 3), (33, 1, 3)])
def test_tiny_and_odd_sizes(shape):
    out = apply_haze(np.full(shape, 0.5, np.float32), _params())
    assert out.shape == shape and np.isfinite(out).all()


def test_sampler_draws_documented_ranges_and_is_deterministic():
    draws = [sample_haze_params(np.random.default_rng(s), (64, 64, 3)) for s in range(200)]
    assert all(BETA_RANGE[0] <= d["beta"] <= BETA_RANGE[1] for d in draws)
    assert all(AIRLIGHT_RANGE[0] <= d["airlight"] <= AIRLIGHT_RANGE[1] for d in draws)
    assert {d["field_cells"] for d in draws} == {2, 3, 4}
    assert sample_haze_params(np.random.default_rng(3), (8, 8, 3)) == draws[3]
    image = _image()
    np.testing.assert_array_equal(apply_haze(image, draws[3]), apply_haze(image, draws[3]))


@pytest.mark.parametrize("bad, name", [({"beta": -0.1}, "beta"), ({"airlight": 1.5}, "airlight"),
                                       ({"field_cells": 2.5}, "field_cells"),
                                       ({"field_seed": -1}, "field_seed"),
                                       ({"gradient_weight": 2}, "gradient_weight")])
def test_validate_names_the_bad_parameter(bad, name):
    with pytest.raises(ValueError, match=f"haze: {name}"):
        HAZE.validate(_params(**bad))


def test_missing_parameter_is_named():
    params = _params()
    del params["airlight"]
    with pytest.raises(ValueError, match="airlight"):
        apply_haze(_image(), params)


def test_haze_is_registered_outside_the_default_pool():
    from degrade import registry
    assert registry.OPS["haze"] is HAZE and not registry.in_default_pool("haze")
    assert "haze" not in registry.CANONICAL_ORDER and "haze" not in registry.resolve_pool()
    assert registry.resolve_pool("haze,jpeg") == ["haze", "jpeg"]


def test_a_chain_naming_haze_replays_bit_for_bit():
    from degrade.chain import degrade_named, replay
    clean = (_image(20, 24) * 255).astype(np.uint8)
    hazy, record = degrade_named(clean, ["jpeg", "haze"], seed=5)
    assert [step["name"] for step in record["ops"]] == ["jpeg", "haze"]
    np.testing.assert_array_equal(replay(record, clean), hazy)

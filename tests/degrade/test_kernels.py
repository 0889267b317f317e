"""Gaussian-family kernels against their closed forms, and the kernel sampler's ranges."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from degrade.kernels import (FAMILIES, KERNEL_SIZES, make_kernel, sample_kernel_params,
                             validate_kernel_params)


def closed_form_q(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """q in the rotated frame: u along the sigma_x axis (direction theta), v across it."""
    half = size // 2
    y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    u = x * math.cos(theta) + y * math.sin(theta)
    v = -x * math.sin(theta) + y * math.cos(theta)
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


def sampled_params(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [sample_kernel_params(rng) for _ in range(count)]


def test_every_sampled_kernel_sums_to_one_and_is_non_negative():
    for params in sampled_params(300):
        kernel = make_kernel(**params)
        assert kernel.shape == (params["size"], params["size"])
        assert abs(kernel.sum() - 1.0) < 1e-12
        assert kernel.min() >= 0.0


@pytest.mark.parametrize("family, beta", [("gaussian", 1.0), ("generalized", 0.6),
                                          ("generalized", 3.5), ("plateau", 1.7)])
def test_isotropic_kernels_have_the_full_square_symmetry(family, beta):
    kernel = make_kernel(family, 15, 1.7, 1.7, 0.0, beta)
    np.testing.assert_allclose(kernel, kernel[::-1, :], atol=1e-15)
    np.testing.assert_allclose(kernel, kernel[:, ::-1], atol=1e-15)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-15)


@pytest.mark.parametrize("family, beta", [("gaussian", 1.0), ("generalized", 2.0),
                                          ("plateau", 1.3)])
def test_axis_aligned_kernels_are_mirror_symmetric_but_not_transposable(family, beta):
    kernel = make_kernel(family, 13, 2.5, 0.8, 0.0, beta)
    np.testing.assert_allclose(kernel, kernel[::-1, :], atol=1e-15)
    np.testing.assert_allclose(kernel, kernel[:, ::-1], atol=1e-15)
    # wider along x (columns) than along y (rows)
    assert kernel[6, 6 + 3] > kernel[6 + 3, 6]


def test_axis_aligned_gaussian_is_exactly_the_outer_product_of_1d_gaussians():
    kernel = make_kernel("gaussian", 11, 2.1, 0.7, 0.0)
    offsets = np.arange(-5, 6, dtype=np.float64)
    expected = np.outer(np.exp(-0.5 * (offsets / 0.7) ** 2), np.exp(-0.5 * (offsets / 2.1) ** 2))
    np.testing.assert_allclose(kernel, normalised(expected), rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("theta", [-3.0, -math.pi / 3, 0.4, 1.2, math.pi])
def test_rotated_gaussian_matches_the_closed_form(theta):
    kernel = make_kernel("gaussian", 17, 2.8, 0.9, theta)
    expected = normalised(np.exp(-0.5 * closed_form_q(17, 2.8, 0.9, theta)))
    np.testing.assert_allclose(kernel, expected, rtol=1e-10, atol=1e-16)


def test_rotation_by_a_quarter_turn_swaps_the_axes():
    rotated = make_kernel("gaussian", 13, 2.6, 0.6, math.pi / 2)
    swapped = make_kernel("gaussian", 13, 0.6, 2.6, 0.0)
    np.testing.assert_allclose(rotated, swapped, rtol=1e-9, atol=1e-15)


def test_positive_theta_tilts_the_long_axis_towards_positive_x_and_y():
    kernel = make_kernel("gaussian", 15, 3.0, 0.5, math.pi / 4)
    centre = 7
    assert kernel[centre + 3, centre + 3] > 100 * kernel[centre - 3, centre + 3]


@pytest.mark.parametrize("sigma_x, sigma_y, theta", [(1.0, 1.0, 0.0), (2.5, 0.4, 0.8),
                                                     (0.2, 3.0, -2.0)])
def test_generalized_gaussian_with_beta_one_is_the_gaussian(sigma_x, sigma_y, theta):
    generalized = make_kernel("generalized", 21, sigma_x, sigma_y, theta, 1.0)
    gaussian = make_kernel("gaussian", 21, sigma_x, sigma_y, theta)
    np.testing.assert_allclose(generalized, gaussian, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("beta", [0.5, 0.8, 2.0, 4.0])
def test_generalized_gaussian_matches_the_closed_form(beta):
    kernel = make_kernel("generalized", 15, 1.9, 1.1, 0.7, beta)
    expected = normalised(np.exp(-0.5 * closed_form_q(15, 1.9, 1.1, 0.7) ** beta))
    np.testing.assert_allclose(kernel, expected, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_plateau_matches_the_closed_form(beta):
    kernel = make_kernel("plateau", 19, 2.2, 0.6, -1.1, beta)
    expected = normalised(1.0 / (1.0 + closed_form_q(19, 2.2, 0.6, -1.1) ** beta))
    np.testing.assert_allclose(kernel, expected, rtol=1e-10)


def test_larger_beta_flattens_the_generalized_top():
    flat = make_kernel("generalized", 21, 3.0, 3.0, 0.0, 4.0)
    peaked = make_kernel("generalized", 21, 3.0, 3.0, 0.0, 0.5)
    assert flat[10, 11] / flat[10, 10] > peaked[10, 11] / peaked[10, 10]


def test_sampler_covers_every_family_size_and_shape_within_range():
    draws = sampled_params(2000, seed=3)
    for params in draws:
        validate_kernel_params(params)
        assert json.loads(json.dumps(params)) == params
    assert {p["family"] for p in draws} == set(FAMILIES)
    assert {p["size"] for p in draws} == set(KERNEL_SIZES)
    isotropic = [p for p in draws if p["sigma_x"] == p["sigma_y"]]
    assert all(p["theta"] == 0.0 for p in isotropic)
    assert 0.6 < len(isotropic) / len(draws) < 0.78  # Real-ESRGAN's 0.45 + 0.12 + 0.12 = 0.69
    generalized = [p["beta"] for p in draws if p["family"] == "generalized"]
    assert min(generalized) < 0.6 and max(generalized) > 3.5
    assert all(p["beta"] == 1.0 for p in draws if p["family"] == "gaussian")


def test_sampler_is_deterministic_for_a_seed():
    assert sampled_params(20, seed=9) == sampled_params(20, seed=9)
    assert sampled_params(20, seed=9) != sampled_params(20, seed=10)


GOOD = {"family": "generalized", "size": 9, "sigma_x": 1.0, "sigma_y": 2.0, "theta": 0.3,
        "beta": 2.0}


@pytest.mark.parametrize("change, message", [
    ({"sigma_x": 5.0}, "gaussian_blur: sigma_x=5.0 is outside [0.2, 3.0]"),
    ({"sigma_y": 0.1}, "gaussian_blur: sigma_y=0.1 is outside [0.2, 3.0]"),
    ({"theta": 4.0}, "gaussian_blur: theta=4.0 is outside"),
    ({"beta": 4.5}, "gaussian_blur: beta=4.5 is outside [0.5, 4.0]"),
    ({"family": "plateau", "beta": 3.0}, "gaussian_blur: beta=3.0 is outside [1.0, 2.0]"),
    ({"family": "gaussian"}, "gaussian_blur: beta=2.0 is outside [1.0, 1.0]"),
    ({"family": "box"}, "gaussian_blur: family='box' is not one of"),
    ({"size": 8}, "gaussian_blur: size=8 is not an odd integer in 7..21"),
    ({"size": 23}, "gaussian_blur: size=23 is not an odd integer"),
    ({"size": 9.0}, "gaussian_blur: size=9.0 is not an odd integer"),
    ({"sigma_x": float("nan")}, "gaussian_blur: sigma_x must be a finite number"),
    ({"sigma_x": "1"}, "gaussian_blur: sigma_x must be a finite number"),
    ({"extra": 1}, "gaussian_blur: unknown parameter 'extra'"),
])
def test_validate_names_the_bad_parameter_in_one_line(change, message):
    params = {**GOOD, **change}
    with pytest.raises(ValueError) as error:
        validate_kernel_params(params)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_validate_names_a_missing_parameter():
    params = {k: v for k, v in GOOD.items() if k != "theta"}
    with pytest.raises(ValueError, match="gaussian_blur: missing parameter 'theta'"):
        validate_kernel_params(params)

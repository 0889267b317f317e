"""The gaussian_blur op (degrade.blur) and the filtering engine it runs on (degrade.filtering),
against a slow plain-numpy correlation."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from degrade.blur import GAUSSIAN_BLUR, plan_gaussian_blur
from degrade.filtering import ERROR_BOUND, CostModel, correlate, plan_filter, reflect_indices
from degrade.kernels import kernel_from_params, make_kernel, sample_kernel_params


def folded_reflect_101(index: int, length: int) -> int:
    """Reflect-101 one step at a time, the way the edge rule is defined (independent of numpy)."""
    if length == 1:
        return 0
    while not 0 <= index < length:
        index = -index if index < 0 else 2 * (length - 1) - index
    return index


def slow_correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out[y, x] = sum kernel[i, j] * image[fold(y + i - cy), fold(x + j - cx)], in float64."""
    height, width = image.shape[:2]
    k_h, k_w = kernel.shape
    rows = np.array([folded_reflect_101(y, height) for y in range(-(k_h // 2), height + k_h // 2)])
    cols = np.array([folded_reflect_101(x, width) for x in range(-(k_w // 2), width + k_w // 2)])
    padded = image.astype(np.float64)[rows[:, None], cols[None, :]]
    out = np.zeros(image.shape, dtype=np.float64)
    for i in range(k_h):
        for j in range(k_w):
            out += kernel[i, j] * padded[i:i + height, j:j + width]
    return out


def random_image(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize("length, before, after", [(1, 10, 10), (2, 10, 7), (3, 1, 1),
                                                   (5, 12, 3), (40, 10, 10)])
def test_reflect_indices_fold_like_the_definition(length, before, after):
    expected = [folded_reflect_101(i, length) for i in range(-before, length + after)]
    assert reflect_indices(length, before, after).tolist() == expected


def test_reflect_101_is_numpy_reflect_and_opencv_reflect_101():
    row = np.arange(7, dtype=np.float32)[None, :]
    ours = row[:, reflect_indices(7, 4, 5)]
    np.testing.assert_array_equal(ours, np.pad(row, ((0, 0), (4, 5)), mode="reflect"))
    opencv = cv2.copyMakeBorder(row, 0, 0, 4, 5, cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(ours, opencv)


@pytest.mark.parametrize("seed", range(40))
def test_blur_matches_the_slow_correlation_within_the_bound(seed):
    rng = np.random.default_rng(seed)
    params = sample_kernel_params(rng)
    shape = (int(rng.integers(1, 45)), int(rng.integers(1, 45)), 3)
    image = random_image(shape, seed)
    out = GAUSSIAN_BLUR.apply(image, params)
    expected = slow_correlate(image, kernel_from_params(params))
    assert out.shape == shape and out.dtype == np.float32
    assert np.abs(out - expected).max() <= ERROR_BOUND + 1e-6


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 7, 3), (6, 1, 3), (2, 3, 3), (9, 20, 3),
                                   (21, 21, 3), (22, 23, 3)])
def test_tiny_and_odd_images_keep_their_size_and_fold_at_the_edges(shape):
    params = {"family": "plateau", "size": 21, "sigma_x": 3.0, "sigma_y": 1.5, "theta": 0.5,
              "beta": 1.0}
    image = random_image(shape, 1)
    out = GAUSSIAN_BLUR.apply(image, params)
    assert out.shape == shape and out.dtype == np.float32
    expected = slow_correlate(image, kernel_from_params(params))
    assert np.abs(out - expected).max() <= ERROR_BOUND + 1e-6


def test_a_one_pixel_image_is_unchanged():
    image = np.array([[[0.2, 0.5, 0.9]]], dtype=np.float32)
    params = sample_kernel_params(np.random.default_rng(4))
    np.testing.assert_allclose(GAUSSIAN_BLUR.apply(image, params), image, atol=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_blur_of_a_constant_image_is_that_constant(seed):
    params = sample_kernel_params(np.random.default_rng(seed))
    image = np.full((37, 30, 3), [0.25, 0.5, 1.0], dtype=np.float32)
    np.testing.assert_allclose(GAUSSIAN_BLUR.apply(image, params), image, atol=2e-6)


def test_an_impulse_reproduces_the_flipped_kernel_correlation_convention():
    rng = np.random.default_rng(5)
    kernel = rng.random((7, 9)) * (rng.random((7, 9)) > 0.5)
    kernel /= kernel.sum()
    image = np.zeros((15, 17, 3), dtype=np.float32)
    image[7, 8] = 1.0
    out = correlate(image, plan_filter(kernel, tolerance=0.0))
    for channel in range(3):
        np.testing.assert_allclose(out[4:11, 4:13, channel], kernel[::-1, ::-1], atol=1e-7)
    assert np.abs(out).sum() == pytest.approx(3.0, abs=1e-5)


def test_an_impulse_through_the_op_reproduces_the_symmetric_kernel():
    params = {"family": "generalized", "size": 11, "sigma_x": 2.5, "sigma_y": 1.0,
              "theta": 0.9, "beta": 0.7}
    image = np.zeros((31, 31, 3), dtype=np.float32)
    image[15, 15] = 1.0
    out = GAUSSIAN_BLUR.apply(image, params)
    kernel = kernel_from_params(params)
    assert np.abs(out[10:21, 10:21, 1] - kernel).max() <= ERROR_BOUND


def effective_kernel(plan) -> np.ndarray:
    """What the plan's passes add up to, placed back in the kernel's frame."""
    total = np.zeros(plan.kernel_shape)
    for filter_pass in plan.passes:
        top, left, height, width = filter_pass.box
        part = (filter_pass.dense if filter_pass.dense is not None
                else np.outer(filter_pass.column, filter_pass.row))
        total[top:top + height, left:left + width] += part
    return total


def test_separable_gaussians_plan_a_single_separable_pass():
    for theta in (0.0, np.pi / 2, np.pi):
        kernel = make_kernel("gaussian", 21, 3.0, 1.2, theta)
        plan = plan_filter(kernel)
        assert plan.kind == "separable" and len(plan.passes) == 1
        assert plan.error_bound <= ERROR_BOUND
        uncropped = plan_filter(kernel, tolerance=1e-9)
        assert uncropped.kind == "separable" and len(uncropped.passes) == 1


def test_sampled_kernels_use_every_kind_of_plan():
    rng = np.random.default_rng(0)
    kinds = {plan_filter(kernel_from_params(sample_kernel_params(rng))).kind for _ in range(300)}
    assert kinds == {"dense", "separable", "strips"}


@pytest.mark.parametrize("seed", range(30))
def test_every_plan_keeps_its_bound_and_the_bound_is_not_exceeded(seed):
    rng = np.random.default_rng(100 + seed)
    kernel = kernel_from_params(sample_kernel_params(rng))
    plan = plan_filter(kernel)
    assert plan.error_bound <= ERROR_BOUND
    residual = kernel - effective_kernel(plan)
    bound = max(residual[residual > 0].sum(), -residual[residual < 0].sum())
    assert bound == pytest.approx(plan.error_bound, abs=1e-6)
    assert effective_kernel(plan).sum() == pytest.approx(1.0, abs=1e-6)
    image = random_image((40, 40, 3), seed)
    out = correlate(image, plan)
    assert np.abs(out - slow_correlate(image, kernel)).max() <= plan.error_bound + 1e-6


def first_plan(kind: str, min_passes: int):
    rng = np.random.default_rng(0)
    while True:
        kernel = kernel_from_params(sample_kernel_params(rng))
        plan = plan_filter(kernel)
        if plan.kind == kind and len(plan.passes) >= min_passes:
            return kernel, plan


@pytest.mark.parametrize("kind", ["separable", "strips"])
def test_the_bound_is_attained_by_the_worst_image(kind):
    kernel, plan = first_plan(kind, 2)
    residual = kernel - effective_kernel(plan)
    size = kernel.shape[0]
    errors = []
    for worst in (residual > 0, residual < 0):
        # out[c, c] reads image[i, j] with weight kernel[i, j] when the image is size x size
        image = np.zeros((size + 10, size + 10, 3), dtype=np.float32)
        image[5:5 + size, 5:5 + size] = worst[..., None]
        centre = 5 + size // 2
        errors.append(slow_correlate(image, kernel)[centre, centre, 0]
                      - correlate(image, plan)[centre, centre, 0])
    assert max(abs(e) for e in errors) == pytest.approx(plan.error_bound, abs=2e-6)
    assert plan_filter(kernel, tolerance=0.0).error_bound == 0.0


def test_output_is_clipped_to_the_unit_range():
    image = random_image((50, 50, 3), 7)
    image[::2] = 1.0
    image[1::2] = 0.0
    params = {"family": "plateau", "size": 21, "sigma_x": 3.0, "sigma_y": 0.2, "theta": 0.3,
              "beta": 1.0}
    out = GAUSSIAN_BLUR.apply(image, params)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_apply_is_deterministic_and_params_survive_json():
    rng = np.random.default_rng(11)
    params = GAUSSIAN_BLUR.sample_params(rng, (32, 32, 3))
    replayed = json.loads(json.dumps(params))
    image = random_image((32, 33, 3), 2)
    assert GAUSSIAN_BLUR.apply(image, params).tobytes() == \
        GAUSSIAN_BLUR.apply(image.copy(), replayed).tobytes()


def test_apply_rejects_bad_params_before_touching_the_image():
    params = {"family": "gaussian", "size": 7, "sigma_x": 9.0, "sigma_y": 1.0, "theta": 0.0,
              "beta": 1.0}
    with pytest.raises(ValueError, match="gaussian_blur: sigma_x=9.0"):
        GAUSSIAN_BLUR.apply(random_image((8, 8, 3)), params)


def test_plan_filter_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        plan_filter(np.ones((4, 5)) / 20)


@pytest.mark.parametrize("sigma_x, sigma_y", [(0.2, 0.2), (1.0, 1.0), (3.0, 3.0), (2.5, 0.4),
                                              (0.3, 2.9)])
def test_unrotated_gaussians_take_the_analytic_plan_within_its_exact_bound(sigma_x, sigma_y):
    params = {"family": "gaussian", "size": 21, "sigma_x": sigma_x, "sigma_y": sigma_y,
              "theta": 0.0, "beta": 1.0}
    plan = plan_gaussian_blur(params)
    kernel = kernel_from_params(params)
    residual = kernel - effective_kernel(plan)
    bound = max(residual[residual > 0].sum(), -residual[residual < 0].sum())
    assert plan.kind in ("separable", "dense") and len(plan.passes) == 1
    assert bound == pytest.approx(plan.error_bound, abs=1e-7)
    assert plan.error_bound <= ERROR_BOUND
    assert plan.cost <= plan_filter(kernel).cost + 1e-9  # never worse than the generic planner
    image = random_image((30, 35, 3), 3)
    assert np.abs(correlate(image, plan) - slow_correlate(image, kernel)).max() \
        <= plan.error_bound + 1e-6


def test_plans_of_point_symmetric_kernels_stay_centred():
    rng = np.random.default_rng(21)
    for _ in range(40):
        kernel = kernel_from_params(sample_kernel_params(rng))
        plan = plan_filter(kernel)
        if plan.kind == "strips":
            continue
        top, left, height, width = plan.passes[0].box
        assert (top + height // 2, left + width // 2) == (kernel.shape[0] // 2,) * 2
        np.testing.assert_allclose(effective_kernel(plan), effective_kernel(plan)[::-1, ::-1],
                                   atol=1e-7)


def test_plans_depend_on_the_image_size_where_the_dft_cost_does():
    kernel = make_kernel("plateau", 21, 3.0, 2.5, 0.4, 1.0)
    small = plan_filter(kernel, costs=CostModel(64 * 64))
    large = plan_filter(kernel, costs=CostModel(1024 * 1024))
    assert small.error_bound <= ERROR_BOUND and large.error_bound <= ERROR_BOUND
    assert CostModel(64 * 64).dft() < CostModel(256 * 256).dft() < CostModel(1024 * 1024).dft()
    assert small.cost < large.cost


def brute_force_strip_cost(mask: np.ndarray, costs: CostModel) -> float:
    """Cheapest cover over every split of the rows into consecutive strips (2^(rows-1) ways)."""
    from degrade.filtering import _ACCUMULATE, _DIRECT_MAX_AREA, _OFF_CENTRE
    rows = mask.shape[0]
    best = np.inf
    for cuts in range(2 ** (rows - 1)):
        bounds = [0] + [r + 1 for r in range(rows - 1) if cuts >> r & 1] + [rows]
        total = 0.0
        for start, end in zip(bounds[:-1], bounds[1:]):
            cols = np.flatnonzero(mask[start:end].any(axis=0))
            if cols.size == 0:
                continue
            area = (end - start) * (cols[-1] - cols[0] + 1)
            if area > _DIRECT_MAX_AREA:
                total = np.inf
                break
            total += costs.direct(area) + costs.scale * (_ACCUMULATE + _OFF_CENTRE)
        best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_numba_strip_cover_is_optimal_against_brute_force(seed):
    from degrade.filtering import _strip_cover
    rng = np.random.default_rng(seed)
    mask = rng.random((9, 23)) < 0.15
    mask[rng.integers(0, 9)] = False  # an empty row must cost nothing
    costs = CostModel(128 * 128)
    total, boxes = _strip_cover(mask, costs)
    assert total == pytest.approx(brute_force_strip_cost(mask, costs), rel=1e-12)
    covered = np.zeros_like(mask)
    for top, left, height, width in boxes:
        assert height * width <= 129
        assert not covered[top:top + height].any()  # strips never overlap
        covered[top:top + height, left:left + width] = True
    assert not (mask & ~covered).any()


def test_plan_filter_rejects_negative_and_empty_kernels_and_survives_a_huge_tolerance():
    with pytest.raises(ValueError, match="non-negative"):
        plan_filter(np.array([[0.0, -0.1, 0.0], [0.0, 1.1, 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="positive sum"):
        plan_filter(np.zeros((3, 3)))
    kernel = make_kernel("plateau", 9, 2.0, 2.0, 0.0, 1.0)
    plan = plan_filter(kernel, tolerance=10.0)
    assert effective_kernel(plan).sum() == pytest.approx(1.0, abs=1e-6)

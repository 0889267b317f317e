"""motion_blur: trajectory kernels against a slow plain-Python rasteriser, centring, the op."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from degrade.filtering import ERROR_BOUND
from degrade.motion import (KERNEL_SIZES, MOTION_BLUR, SAMPLE_SPACING, motion_kernel,
                            sample_trajectory, trajectory_centre)


def slow_motion_kernel(points: np.ndarray, size: int) -> np.ndarray:
    """The documented rasterisation, one sample at a time in plain Python floats."""
    segments = len(points) - 1
    samples = []  # (x, y, weight)
    if segments == 0:
        samples.append((0.0, 0.0, 1.0))
    for s in range(segments):
        (x0, y0), (x1, y1) = points[s], points[s + 1]
        count = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / SAMPLE_SPACING))
        for m in range(count):
            t = (m + 0.5) / count
            samples.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0), 1.0 / (segments * count)))
    total = sum(w for _, _, w in samples)
    mean_x = sum(x * w for x, _, w in samples) / total
    mean_y = sum(y * w for _, y, w in samples) / total
    kernel = np.zeros((size, size))
    for x, y, w in samples:
        u, v = x - mean_x + size // 2, y - mean_y + size // 2
        col, row = min(max(math.floor(u), 0), size - 2), min(max(math.floor(v), 0), size - 2)
        fx, fy = min(max(u - col, 0.0), 1.0), min(max(v - row, 0.0), 1.0)
        kernel[row, col] += w / total * (1 - fx) * (1 - fy)
        kernel[row, col + 1] += w / total * fx * (1 - fy)
        kernel[row + 1, col] += w / total * (1 - fx) * fy
        kernel[row + 1, col + 1] += w / total * fx * fy
    return kernel / kernel.sum()


def centre_of_mass(kernel: np.ndarray) -> tuple[float, float]:
    rows, cols = np.mgrid[0:kernel.shape[0], 0:kernel.shape[1]]
    return float((kernel * cols).sum()), float((kernel * rows).sum())


def sampled(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [MOTION_BLUR.sample_params(rng, (64, 64, 3)) for _ in range(count)]


def path_length(points) -> float:
    return float(np.linalg.norm(np.diff(np.asarray(points), axis=0), axis=1).sum())


@pytest.mark.parametrize("index", range(8))
def test_numba_rasteriser_matches_the_slow_reference(index):
    params = sampled(8, seed=1)[index]
    points = np.array(params["points"])
    np.testing.assert_allclose(motion_kernel(points, params["size"]),
                               slow_motion_kernel(points, params["size"]), atol=1e-12)


def test_hand_made_paths_match_the_slow_reference():
    cases = [([[0.0, 0.0]], 5), ([[1.0, 1.0], [1.0, 1.0]], 5), ([[-3.0, 0.0], [3.0, 0.0]], 7),
             ([[-2.0, -2.0], [2.0, 2.0], [2.0, -1.5]], 9), ([[0.3, 0.1], [0.35, 0.12]], 5)]
    for points, size in cases:
        points = np.array(points)
        np.testing.assert_allclose(motion_kernel(points, size),
                                   slow_motion_kernel(points, size), atol=1e-12)


def test_sampled_kernels_are_centred_non_negative_and_sum_to_one():
    for params in sampled(150, seed=2):
        kernel = motion_kernel(np.array(params["points"]), params["size"])
        centre = params["size"] // 2
        com_x, com_y = centre_of_mass(kernel)
        assert abs(com_x - centre) < 1e-9 and abs(com_y - centre) < 1e-9
        assert kernel.min() >= 0.0
        assert kernel.sum() == pytest.approx(1.0, abs=1e-12)


def test_a_straight_horizontal_path_gives_a_centred_horizontal_line():
    kernel = motion_kernel(np.array([[-4.0, 0.0], [4.0, 0.0]]), 11)
    assert np.abs(kernel[[4, 6]]).max() == 0.0  # nothing off the middle row
    assert kernel[5, 1:10].min() > 0.05
    np.testing.assert_allclose(kernel[5], kernel[5, ::-1], atol=1e-12)


def test_a_still_camera_is_the_identity_kernel():
    for points in ([[0.0, 0.0]], [[2.5, -1.0], [2.5, -1.0], [2.5, -1.0]]):
        kernel = motion_kernel(np.array(points), 7)
        assert kernel[3, 3] == pytest.approx(1.0)


def test_sampled_paths_fit_their_kernel_and_reach_half_of_it():
    for params in sampled(100, seed=3):
        points = np.array(params["points"])
        radius = (params["size"] - 1) / 2
        reach = np.abs(points - trajectory_centre(points)).max()
        assert 0.5 * radius - 0.05 <= reach <= radius
        MOTION_BLUR.validate(params)
        assert json.loads(json.dumps(params)) == params


def test_a_larger_size_gives_a_longer_trajectory():
    rng = np.random.default_rng(4)
    short = np.mean([path_length(sample_trajectory(rng, 9)) for _ in range(40)])
    long = np.mean([path_length(sample_trajectory(rng, 31)) for _ in range(40)])
    assert long > 2.5 * short


def test_sampler_draws_every_size_and_is_deterministic():
    draws = sampled(300, seed=5)
    assert {p["size"] for p in draws} == set(KERNEL_SIZES)
    assert sampled(5, seed=6) == sampled(5, seed=6)
    assert sampled(5, seed=6) != sampled(5, seed=7)


def slow_correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlation with reflect-101 edges, folded with np.pad (needs every side >= 2)."""
    half = kernel.shape[0] // 2
    padded = np.pad(image.astype(np.float64), ((half, half), (half, half), (0, 0)), "reflect")
    out = np.zeros(image.shape)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            out += kernel[i, j] * padded[i:i + image.shape[0], j:j + image.shape[1]]
    return out


@pytest.mark.parametrize("index", range(6))
def test_apply_matches_the_slow_correlation_within_the_bound(index):
    params = sampled(6, seed=8)[index]
    image = np.random.default_rng(index).random((37, 41, 3)).astype(np.float32)
    out = MOTION_BLUR.apply(image, params)
    kernel = motion_kernel(np.array(params["points"]), params["size"])
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.abs(out - slow_correlate(image, kernel)).max() <= ERROR_BOUND + 1e-6


def test_an_impulse_reproduces_the_flipped_kernel():
    params = {"size": 9, "points": [[-3.0, -1.0], [2.0, 0.5], [3.0, 3.0]]}
    image = np.zeros((21, 21, 3), dtype=np.float32)
    image[10, 10] = 1.0
    out = MOTION_BLUR.apply(image, params)
    kernel = motion_kernel(np.array(params["points"]), 9)
    assert np.abs(out[6:15, 6:15, 2] - kernel[::-1, ::-1]).max() <= ERROR_BOUND
    assert np.abs(out[6:15, 6:15, 2] - kernel).max() > 0.01  # the kernel is not symmetric


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 5, 3), (4, 1, 3), (3, 2, 3), (13, 30, 3)])
def test_tiny_and_odd_images_keep_their_size(shape):
    points = np.round(sample_trajectory(np.random.default_rng(10), 31), 3)
    params = {"size": 31, "points": points.tolist()}
    image = np.random.default_rng(1).random(shape).astype(np.float32)
    out = MOTION_BLUR.apply(image, params)
    assert out.shape == shape and out.dtype == np.float32
    if shape == (1, 1, 3):
        np.testing.assert_allclose(out, image, atol=1e-6)


def test_a_constant_image_stays_constant():
    image = np.full((25, 26, 3), [0.1, 0.6, 0.95], dtype=np.float32)
    for params in sampled(10, seed=11):
        np.testing.assert_allclose(MOTION_BLUR.apply(image, params), image, atol=2e-6)


def test_replay_from_json_is_bit_exact():
    params = sampled(1, seed=12)[0]
    image = np.random.default_rng(2).random((30, 30, 3)).astype(np.float32)
    first = MOTION_BLUR.apply(image, params)
    again = MOTION_BLUR.apply(image.copy(), json.loads(json.dumps(params)))
    assert first.tobytes() == again.tobytes()


@pytest.mark.parametrize("params, message", [
    ({"size": 6, "points": [[0, 0]]}, "motion_blur: size=6 is not an odd integer in 5..31"),
    ({"size": 33, "points": [[0, 0]]}, "motion_blur: size=33 is not an odd integer"),
    ({"size": True, "points": [[0, 0]]}, "motion_blur: size=True is not an odd integer"),
    ({"size": 5, "points": []}, "motion_blur: points must be a list of 1..4096"),
    ({"size": 5, "points": [[0, 0, 0]]}, "motion_blur: point [0, 0, 0] is not an [x, y] pair"),
    ({"size": 5, "points": [[0, "a"]]}, "motion_blur: point [0, 'a'] is not an [x, y] pair"),
    ({"size": 5, "points": [[0, float("inf")]]}, "motion_blur: points contain a non-finite"),
    ({"size": 5, "points": [[-3, 0], [3, 0]]}, "motion_blur: trajectory reaches 3.000 px"),
    ({"size": 5}, "motion_blur: missing parameter 'points'"),
    ({"size": 5, "points": [[0, 0]], "seed": 1}, "motion_blur: unknown parameter 'seed'"),
])
def test_validate_names_the_bad_parameter_in_one_line(params, message):
    with pytest.raises(ValueError) as error:
        MOTION_BLUR.validate(params)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def slow_boracchi_foi_path(length, anxiety, centripetal, big_shake, gaussian_shake, angle,
                           uniforms, normals) -> np.ndarray:
    """The particle in complex numbers, as Boracchi and Foi write it, one step at a time."""
    steps = len(uniforms) + 1
    speed = length / (steps - 1)
    x = [0j]
    v = complex(math.cos(angle), math.sin(angle)) * speed
    for t in range(steps - 1):
        impulse = 0j
        if uniforms[t, 0] < big_shake * anxiety:
            impulse = 2 * v * complex(math.cos(math.pi + uniforms[t, 1] - 0.5),
                                      math.sin(math.pi + uniforms[t, 1] - 0.5))
        shake = gaussian_shake * complex(normals[t, 0], normals[t, 1])
        v = v + impulse + anxiety * (shake - centripetal * x[t]) * speed
        v = v / abs(v) * speed
        x.append(x[t] + v)
    return np.array([[z.real, z.imag] for z in x])


@pytest.mark.parametrize("seed", range(4))
def test_numba_path_simulation_matches_the_complex_number_reference(seed):
    from degrade.motion import _simulate_path
    rng = np.random.default_rng(seed)
    uniforms, normals = rng.random((300, 2)), rng.standard_normal((300, 2))
    args = (20.0, 0.08, 0.5, 0.2 if seed % 2 else 0.0, 7.0, 1.1)
    np.testing.assert_allclose(_simulate_path(*args, uniforms, normals),
                               slow_boracchi_foi_path(*args, uniforms, normals), atol=1e-9)

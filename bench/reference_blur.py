"""Reference blurs written the way BasicSR does them: build the full 2-D kernel in numpy, then one
cv2.filter2D call (correlation, cv2.BORDER_REFLECT_101). Same math as degrade.blur and
degrade.motion, none of their speed-ups (no cropping, no low-rank passes, no numba), so the
benchmark compares like with like.

Both take a float32 HxWx3 image in [0, 1] and the op's params dict, and return float32 HxWx3.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

MOTION_SAMPLE_SPACING = 0.1  # px, as degrade.motion documents


def reference_gaussian_kernel(params: dict) -> np.ndarray:
    """Mesh grid, covariance from (sigma_x, sigma_y, theta), the family's profile, normalised."""
    size = params["size"]
    axis = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1)  # (..., 2) holding (x, y)
    cos, sin = math.cos(params["theta"]), math.sin(params["theta"])
    rotation = np.array([[cos, -sin], [sin, cos]])
    sigma = rotation @ np.diag([params["sigma_x"] ** 2, params["sigma_y"] ** 2]) @ rotation.T
    q = np.sum((grid @ np.linalg.inv(sigma)) * grid, axis=-1)
    family, beta = params["family"], params["beta"]
    if family == "gaussian":
        kernel = np.exp(-0.5 * q)
    elif family == "generalized":
        kernel = np.exp(-0.5 * q ** beta)
    else:
        kernel = 1.0 / (1.0 + q ** beta)
    return kernel / kernel.sum()


def reference_motion_kernel(params: dict) -> np.ndarray:
    """Sample the polyline (equal time per segment), remove the mean, splat bilinearly."""
    size, points = params["size"], np.asarray(params["points"], dtype=np.float64)
    if len(points) == 1:
        samples, weights = np.zeros((1, 2)), np.ones(1)
    else:
        starts, ends = points[:-1], points[1:]
        lengths = np.linalg.norm(ends - starts, axis=1)
        counts = np.maximum(1, np.ceil(lengths / MOTION_SAMPLE_SPACING).astype(int))
        segment = np.repeat(np.arange(len(starts)), counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        t = (np.arange(counts.sum()) - first + 0.5) / counts[segment]
        samples = starts[segment] + t[:, None] * (ends - starts)[segment]
        weights = 1.0 / (len(starts) * counts[segment])
    samples = samples - (samples * weights[:, None]).sum(axis=0) / weights.sum()
    u, v = samples[:, 0] + size // 2, samples[:, 1] + size // 2
    col = np.clip(np.floor(u).astype(int), 0, size - 2)
    row = np.clip(np.floor(v).astype(int), 0, size - 2)
    fx, fy = np.clip(u - col, 0, 1), np.clip(v - row, 0, 1)
    kernel = np.zeros((size, size))
    np.add.at(kernel, (row, col), weights * (1 - fx) * (1 - fy))
    np.add.at(kernel, (row, col + 1), weights * fx * (1 - fy))
    np.add.at(kernel, (row + 1, col), weights * (1 - fx) * fy)
    np.add.at(kernel, (row + 1, col + 1), weights * fx * fy)
    return kernel / kernel.sum()


def reference_gaussian_blur(image: np.ndarray, params: dict) -> np.ndarray:
    kernel = reference_gaussian_kernel(params).astype(np.float32)
    return np.clip(cv2.filter2D(image, -1, kernel), 0.0, 1.0)


def reference_motion_blur(image: np.ndarray, params: dict) -> np.ndarray:
    kernel = reference_motion_kernel(params).astype(np.float32)
    return np.clip(cv2.filter2D(image, -1, kernel), 0.0, 1.0)


REFERENCES = {"gaussian_blur": reference_gaussian_blur, "motion_blur": reference_motion_blur}

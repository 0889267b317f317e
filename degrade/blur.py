"""The gaussian_blur op: Real-ESRGAN's Gaussian-family kernels (degrade.kernels) applied through
the filtering engine (degrade.filtering), with its correlation and reflect-101 edge conventions.

Unrotated Gaussians are planned analytically as one separable pass of trimmed 1-D factors;
every other kernel goes through `degrade.filtering.plan_filter`.
"""
from __future__ import annotations

import numpy as np

from degrade.filtering import (ERROR_BOUND, CostModel, FilterPass, FilterPlan, correlate,
                               plan_filter)
from degrade.kernels import (KERNEL_PARAMS, OP_NAME, kernel_from_params, kernel_sigma,
                             sample_kernel_params, validate_kernel_params)
from degrade.op import Op, Params, Severity


def _axis_aligned_gaussian_plan(size: int, sigma_x: float, sigma_y: float, costs: CostModel,
                                tolerance: float = ERROR_BOUND) -> FilterPlan:
    """One separable pass of two trimmed 1-D Gaussians, planned without building the kernel.

    With unrotated axes the kernel is exactly column x row; trimming the factors to mass m_y and
    m_x and renormalising leaves an error bound of exactly 1 - m_y * m_x (the weight cut off
    equals the weight added back), so the cheapest pair of half-widths within it is chosen.
    """
    half = size // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    column = np.exp(-0.5 * (offsets / sigma_y) ** 2)
    row = np.exp(-0.5 * (offsets / sigma_x) ** 2)
    column, row = column / column.sum(), row / row.sum()
    # kept[r]: mass of the central 2r + 1 taps
    kept_y = np.array([column[half - r:half + r + 1].sum() for r in range(half + 1)])
    kept_x = np.array([row[half - r:half + r + 1].sum() for r in range(half + 1)])
    bounds = 1.0 - np.outer(kept_y, kept_x)
    radii = np.arange(half + 1)
    taps = np.where(bounds <= tolerance, radii[:, None] + radii[None, :], np.inf)
    r_y, r_x = (int(r) for r in np.unravel_index(int(np.argmin(taps)), taps.shape))
    column = (column[half - r_y:half + r_y + 1] / kept_y[r_y]).astype(np.float32)
    row = (row[half - r_x:half + r_x + 1] / kept_x[r_x]).astype(np.float32)
    box = (half - r_y, half - r_x, 2 * r_y + 1, 2 * r_x + 1)
    bound = max(float(bounds[r_y, r_x]), 0.0)
    if costs.direct(box[2] * box[3]) < costs.separable(box[2], box[3]):  # tiny: one dense call
        return FilterPlan((size, size), (FilterPass(box, dense=np.outer(column, row)),), bound,
                          costs.direct(box[2] * box[3]), "dense")
    return FilterPlan((size, size), (FilterPass(box, column=column, row=row),), bound,
                      costs.separable(box[2], box[3]), "separable")


def plan_gaussian_blur(params: Params, image_shape: tuple[int, ...] = (256, 256)) -> FilterPlan:
    """The filter plan for valid gaussian_blur params (unrotated Gaussians skip the SVD)."""
    costs = CostModel(image_shape[0] * image_shape[1])
    if params["family"] == "gaussian" and params["theta"] == 0.0:
        return _axis_aligned_gaussian_plan(params["size"], params["sigma_x"], params["sigma_y"],
                                           costs)
    return plan_filter(kernel_from_params(params), costs=costs)


def apply_gaussian_blur(image: np.ndarray, params: Params) -> np.ndarray:
    """Blur with the kernel the params define (regenerated, never stored), reflect-101 edges."""
    validate_kernel_params(params)
    return correlate(image, plan_gaussian_blur(params, image.shape))


def sample_gaussian_blur(rng: np.random.Generator, image_shape: tuple[int, ...]) -> Params:
    """Kernel family and shape from the paper's ranges; the image shape does not matter."""
    del image_shape
    return sample_kernel_params(rng)


# The kernel's own spread (kernel_sigma), so the three families and anisotropic kernels share
# one unit; sampled kernels reach 4.8 px. Below 0.5 px a kernel is nearly a delta.
SEVERITY = Severity("sigma (px)", lambda p: kernel_sigma(kernel_from_params(p)), 0.0, 5.0, 0.5)

GAUSSIAN_BLUR = Op(name=OP_NAME, apply=apply_gaussian_blur,
                   sample_params=sample_gaussian_blur, validate=validate_kernel_params,
                   severity=SEVERITY, params=KERNEL_PARAMS)

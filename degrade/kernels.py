"""Blur kernels of the Gaussian family (Real-ESRGAN's first-stage kernels) and their sampler.

Coordinates: a kernel of odd size k is evaluated on offsets -(k//2)..k//2, x along columns and
y along rows, so kernel[i, j] is the weight at (x, y) = (j - k//2, i - k//2). The covariance is
Sigma = R diag(sigma_x^2, sigma_y^2) R^T with R the rotation by theta (counter-clockwise in
(x, y)), and with the quadratic form q = (x, y) Sigma^-1 (x, y)^T the families are

    gaussian:     exp(-q / 2)
    generalized:  exp(-q^beta / 2)     (beta = 1 is the Gaussian)
    plateau:      1 / (1 + q^beta)

each normalised to sum to 1. These are the definitions Real-ESRGAN/BasicSR use.
Rotation check: theta = pi/2 turns the sigma_x axis onto the y (row) axis.
"""
from __future__ import annotations

import math

import numpy as np

from degrade.op import Param
from degrade.paramcheck import check_keys, check_number

OP_NAME = "gaussian_blur"
FAMILIES = ("gaussian", "generalized", "plateau")
KERNEL_SIZES = tuple(range(7, 22, 2))
SIGMA_RANGE = (0.2, 3.0)
THETA_RANGE = (-math.pi, math.pi)
BETA_RANGES = {"gaussian": (1.0, 1.0), "generalized": (0.5, 4.0), "plateau": (1.0, 2.0)}
KERNEL_PARAMS = (
    Param("family", "string", "kernel family: gaussian exp(-q/2), generalized exp(-q^beta/2), "
          "plateau 1/(1+q^beta)", choices=FAMILIES),
    Param("size", "integer", "side of the square kernel (odd)", "pixels", KERNEL_SIZES[0],
          KERNEL_SIZES[-1], choices=KERNEL_SIZES),
    Param("sigma_x", "number", "standard deviation along the kernel's own x axis",
          "pixels", *SIGMA_RANGE),
    Param("sigma_y", "number", "standard deviation along the kernel's own y axis",
          "pixels", *SIGMA_RANGE),
    Param("theta", "number", "rotation of the kernel's x axis, counter-clockwise in (x, y)",
          "radians", *THETA_RANGE),
    Param("beta", "number", "shape exponent: 1 for gaussian, 0.5..4 generalized, 1..2 plateau",
          "dimensionless", min(low for low, _ in BETA_RANGES.values()),
          max(high for _, high in BETA_RANGES.values())),
)

# Real-ESRGAN's first-stage kernel_prob (its separate sinc branch is not part of PROD):
# (family, isotropic, probability).
KERNEL_MIX = (
    ("gaussian", True, 0.45),
    ("gaussian", False, 0.25),
    ("generalized", True, 0.12),
    ("generalized", False, 0.03),
    ("plateau", True, 0.12),
    ("plateau", False, 0.03),
)


def quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """q(x, y) = (x, y) Sigma^-1 (x, y)^T on the size x size grid of offsets (float64).

    Sigma^-1 = R diag(1/sigma_x^2, 1/sigma_y^2) R^T in closed form; with theta == 0 the cross
    term is exactly zero, so an unrotated Gaussian is exactly separable.
    """
    half = size // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    x, y = offsets[None, :], offsets[:, None]  # x varies along columns, y along rows
    c, s = math.cos(theta), math.sin(theta)
    along, across = 1.0 / sigma_x**2, 1.0 / sigma_y**2
    a = c * c * along + s * s * across
    b = c * s * (along - across)
    d = s * s * along + c * c * across
    return a * x * x + 2.0 * b * x * y + d * y * y


def make_kernel(family: str, size: int, sigma_x: float, sigma_y: float, theta: float,
                beta: float = 1.0) -> np.ndarray:
    """The normalised size x size float64 kernel of one family (see the module docstring)."""
    q = quadratic_form(size, sigma_x, sigma_y, theta)
    if family == "gaussian":
        weights = np.exp(-0.5 * q)
    elif family == "generalized":
        weights = np.exp(-0.5 * np.power(q, beta))
    elif family == "plateau":
        weights = 1.0 / (1.0 + np.power(q, beta))
    else:
        raise ValueError(f"{OP_NAME}: family={family!r} is not one of {', '.join(FAMILIES)}")
    return weights / weights.sum()


def kernel_sigma(kernel: np.ndarray) -> float:
    """The kernel's spread in pixels: sqrt of its mean squared distance from the centre per
    axis, sqrt((E[x^2] + E[y^2]) / 2); a Gaussian of sigma s (untruncated) gives s."""
    half_y, half_x = kernel.shape[0] // 2, kernel.shape[1] // 2
    y, x = np.mgrid[-half_y:half_y + 1, -half_x:half_x + 1]
    return float(np.sqrt((kernel * (x * x + y * y)).sum() / kernel.sum() / 2.0))


def kernel_from_params(params: dict) -> np.ndarray:
    """The kernel a gaussian_blur params dict defines (float64, sums to 1)."""
    return make_kernel(params["family"], params["size"], params["sigma_x"], params["sigma_y"],
                       params["theta"], params["beta"])


def _sample_beta(rng: np.random.Generator, family: str) -> float:
    low, high = BETA_RANGES[family]
    if family == "generalized":
        # As BasicSR: half the draws below 1 (heavier tails), half above (flatter top),
        # so the narrow [0.5, 1) side is not starved by the wide [1, 4] side.
        return float(rng.uniform(low, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, high))
    return float(rng.uniform(low, high))


def sample_kernel_params(rng: np.random.Generator) -> dict:
    """Draw family, size, sigmas, rotation and shape from the paper's ranges (plain floats).

    Isotropic draws have sigma_y == sigma_x and theta == 0; the Gaussian family has beta == 1.
    """
    probabilities = np.array([p for _, _, p in KERNEL_MIX])
    choice = int(rng.choice(len(KERNEL_MIX), p=probabilities / probabilities.sum()))
    family, isotropic, _ = KERNEL_MIX[choice]
    size = int(rng.choice(KERNEL_SIZES))
    sigma_x = float(rng.uniform(*SIGMA_RANGE))
    if isotropic:
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y = float(rng.uniform(*SIGMA_RANGE))
        theta = float(rng.uniform(*THETA_RANGE))
    beta = 1.0 if family == "gaussian" else _sample_beta(rng, family)
    return {"family": family, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y,
            "theta": theta, "beta": beta}


def validate_kernel_params(params: dict) -> None:
    """Raise ValueError naming the first missing, unknown or out-of-range parameter."""
    check_keys(OP_NAME, params, ("family", "size", "sigma_x", "sigma_y", "theta", "beta"))
    family = params["family"]
    if family not in FAMILIES:
        raise ValueError(f"{OP_NAME}: family={family!r} is not one of {', '.join(FAMILIES)}")
    size = params["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size not in KERNEL_SIZES:
        raise ValueError(f"{OP_NAME}: size={size!r} is not an odd integer in 7..21")
    check_number(OP_NAME, params, "sigma_x", *SIGMA_RANGE)
    check_number(OP_NAME, params, "sigma_y", *SIGMA_RANGE)
    check_number(OP_NAME, params, "theta", *THETA_RANGE)
    check_number(OP_NAME, params, "beta", *BETA_RANGES[family])

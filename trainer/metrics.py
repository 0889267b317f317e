"""PSNR and SSIM on uint8 RGB images, with the conventions restoration papers report.

Both work on the 0-255 scale of HxWx3 uint8 arrays (RGB, no Y-channel conversion, no border
crop), in float64, as BasicSR's `calculate_psnr`/`calculate_ssim` with `test_y_channel=False,
crop_border=0` (the settings of NAFNet's and Restormer's configs):

- PSNR = 10 log10(255^2 / MSE), MSE over all pixels and channels; identical images give +inf.
- SSIM (Wang et al. 2004): Gaussian window of sigma 1.5 truncated to 11x11, K1 = 0.01,
  K2 = 0.03, L = 255, population (not sample) covariances, computed per channel, averaged over
  the pixels whose window lies fully inside the image, then over the three channels. This equals
  scikit-image's `structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=-1)`.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # 11x11 window: scipy's truncate = radius / sigma
_K1, _K2, _L = 0.01, 0.03, 255.0


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected HxWx3 RGB images, got shape {a.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {a.dtype} and {b.dtype}")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 HxWx3 images (inf when identical)."""
    a, b = _check_pair(a, b)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(_L * _L / mse)


def _ssim_channel(x: np.ndarray, y: np.ndarray) -> float:
    def blur(z):
        return gaussian_filter(z, SSIM_SIGMA, truncate=SSIM_RADIUS / SSIM_SIGMA, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (_K1 * _L) ** 2, (_K2 * _L) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    r = SSIM_RADIUS
    return float(ssim_map[r:-r, r:-r].mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two uint8 HxWx3 images (see the module docstring)."""
    a, b = _check_pair(a, b)
    if min(a.shape[:2]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1}x"
                         f"{2 * SSIM_RADIUS + 1} pixels, got {a.shape[1]}x{a.shape[0]}")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(3)]))


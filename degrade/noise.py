"""The three noise ops of the PROD pool: additive Gaussian, Poisson (shot) and speckle noise.

Ranges (CoLoRA patent, equal to Real-ESRGAN's first stage; speckle is ours):
- gaussian_noise: sigma in [1, 30] on the 0-255 scale; grey (one field for all channels) with
  probability 0.4, as Real-ESRGAN.
- poisson_noise: scale in [0.05, 3]. Real-ESRGAN's definition: the image (or its luma, for grey
  noise) is quantised to 8 bits, img_q = q / 255; with vals = 256 (2**ceil(log2(256 levels))),
  noise = (poisson(img_q * vals) / vals - img_q) * scale, added to the unquantised image.
  Poisson draws are exact inverse-CDF lookups in one table per 8-bit level.
- speckle_noise: out = img + img * N(0, sigma), sigma in [0.05, 0.3] (skimage's default speckle
  variance 0.01 is sigma 0.1, near the middle); grey with probability 0.4.
Every output is clipped to [0, 1]. Each op's params carry a `seed` for its own noise field, so
`apply` is a pure function of (image, params).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
from scipy.special import pdtr

from degrade.fastrandom import next_double, paired_normal, splitmix64_state
from degrade.imageconv import apply_on_any_image, unit_to_uint8
from degrade.op import Op, Param, Params, Severity
from degrade.paramcheck import check_bool, check_keys, check_number, check_seed
from degrade.seeding import draw_seed

GAUSSIAN_SIGMA_RANGE = (1.0, 30.0)
POISSON_SCALE_RANGE = (0.05, 3.0)
SPECKLE_SIGMA_RANGE = (0.05, 0.3)
GREY_PROBABILITY = 0.4
POISSON_VALS = 256  # 2**ceil(log2(number of 8-bit levels)), Real-ESRGAN's `vals`
POISSON_TABLE_WIDTH = 512  # CDF of Poisson(256) reaches 1.0 in float64 well before k=512


# ---- fused kernels: draw, scale, clip in one pass (grey noise shared by the three channels) ---
# The kernels draw from degrade.fastrandom's stream seeded by the op's `seed` param, so results
# are a pure function of (image, params).

@numba.njit(cache=True, nogil=True)
def _normal_noise_kernel(rgb, state, scale, grey, multiplicative):
    """clip(rgb + scale * n [* rgb]) on a flat (P, 3) image, n ~ N(0, 1) drawn per pixel and
    channel (colour) or per pixel (grey), in pixel-major order, from the paired stream (two
    normals per 64-bit draw)."""
    out = np.empty_like(rgb)
    n = 0.0
    spare = np.uint64(0)
    drawn = 0
    for p in range(rgb.shape[0]):
        for c in range(3):
            if c == 0 or not grey:
                n, spare = paired_normal(drawn, spare, state)
                drawn += 1
            v = rgb[p, c]
            delta = scale * n * v if multiplicative else scale * n
            out[p, c] = min(max(v + np.float32(delta), np.float32(0.0)), np.float32(1.0))
    return out


def _apply_normal_noise(rgb, seed, grey, scale, multiplicative):
    state = splitmix64_state(seed)
    out = _normal_noise_kernel(rgb.reshape(-1, 3), state, float(scale), bool(grey),
                               multiplicative)
    return out.reshape(rgb.shape)


# ---- Gaussian -------------------------------------------------------------------------------

def gaussian_noise_rgb(rgb: np.ndarray, sigma: float, grey: bool, seed: int) -> np.ndarray:
    """Additive N(0, sigma/255) noise on float32 HxWx3 in [0, 1], clipped."""
    return _apply_normal_noise(rgb, seed, grey, sigma / 255.0, False)


def gaussian_noise(image: np.ndarray, sigma: float, grey: bool = False, seed: int = 0):
    """Additive Gaussian noise (sigma on the 0-255 scale) on any accepted image layout."""
    return apply_on_any_image(lambda rgb: gaussian_noise_rgb(rgb, sigma, grey, seed), image)


def _sample_gaussian(rng: np.random.Generator, image_shape) -> Params:
    return {"sigma": float(rng.uniform(*GAUSSIAN_SIGMA_RANGE)),
            "grey": bool(rng.random() < GREY_PROBABILITY), "seed": draw_seed(rng)}


def _validate_gaussian(params: Params) -> None:
    check_keys("gaussian_noise", params, ("sigma", "grey", "seed"))
    check_number("gaussian_noise", params, "sigma", *GAUSSIAN_SIGMA_RANGE)
    check_bool("gaussian_noise", params, "grey")
    check_seed("gaussian_noise", params)


# ---- speckle --------------------------------------------------------------------------------

def speckle_noise_rgb(rgb: np.ndarray, sigma: float, grey: bool, seed: int) -> np.ndarray:
    """img + img * N(0, sigma) on float32 HxWx3 in [0, 1], clipped."""
    return _apply_normal_noise(rgb, seed, grey, sigma, True)


def speckle_noise(image: np.ndarray, sigma: float, grey: bool = False, seed: int = 0):
    """Multiplicative speckle noise on any accepted image layout."""
    return apply_on_any_image(lambda rgb: speckle_noise_rgb(rgb, sigma, grey, seed), image)


def _sample_speckle(rng: np.random.Generator, image_shape) -> Params:
    return {"sigma": float(rng.uniform(*SPECKLE_SIGMA_RANGE)),
            "grey": bool(rng.random() < GREY_PROBABILITY), "seed": draw_seed(rng)}


def _validate_speckle(params: Params) -> None:
    check_keys("speckle_noise", params, ("sigma", "grey", "seed"))
    check_number("speckle_noise", params, "sigma", *SPECKLE_SIGMA_RANGE)
    check_bool("speckle_noise", params, "grey")
    check_seed("speckle_noise", params)


# ---- Poisson --------------------------------------------------------------------------------

POISSON_GUIDE_SIZE = 256  # guide entries per level: the inverse-CDF scan then takes ~1 step


@lru_cache(maxsize=1)
def poisson_cdf_tables() -> tuple[np.ndarray, np.ndarray]:
    """(cdf, guide) for the 256 quantised levels.

    cdf: float64 [256, 512], row q is the CDF of Poisson(q / 255 * 256) at k = 0..511.
    guide: int32 [256, 256], guide[q, j] = smallest k with cdf[q, k] > j / 256, a safe start
    for the search of u in [j / 256, (j + 1) / 256).
    """
    lam = np.arange(256, dtype=np.float64)[:, None] * (POISSON_VALS / 255.0)
    k = np.arange(POISSON_TABLE_WIDTH, dtype=np.float64)[None, :]
    cdf = pdtr(k, lam)
    cdf[:, -1] = 1.0  # the tail beyond 511 is below 1e-40 for every level
    steps = np.arange(POISSON_GUIDE_SIZE, dtype=np.float64) / POISSON_GUIDE_SIZE
    guide = np.stack([np.searchsorted(row, steps, side="right") for row in cdf]).astype(np.int32)
    return np.ascontiguousarray(cdf), np.ascontiguousarray(guide)


@numba.njit(cache=True, nogil=True)
def _quantise_kernel(rgb, grey):
    """8-bit levels (the project's float -> uint8 rule) of each value, or of each pixel's BT.601
    luma for grey noise: (P, 3) or (P, 1) uint8."""
    levels = np.empty((rgb.shape[0], 1 if grey else 3), np.uint8)
    for p in range(rgb.shape[0]):
        if grey:
            luma = (rgb[p, 0] * np.float32(0.299) + rgb[p, 1] * np.float32(0.587)
                    + rgb[p, 2] * np.float32(0.114))
            levels[p, 0] = unit_to_uint8(luma)
        else:
            for c in range(3):
                levels[p, c] = unit_to_uint8(rgb[p, c])
    return levels


@numba.njit(cache=True, nogil=True)
def _poisson_counts_kernel(levels, state, cdf, guide):
    """k ~ Poisson(q / 255 * 256) per level q, in order: the smallest k with cdf[q, k] > u for
    one uniform u each (exact inverse CDF), the search started from the guide table."""
    flat = levels.reshape(-1)
    counts = np.empty(flat.size, np.int32)
    width = guide.shape[1]
    for i in range(flat.size):
        level = np.int64(flat[i])
        u = next_double(state)
        k = np.int64(guide[level, int(u * width)])
        while cdf[level, k] <= u:
            k += 1
        counts[i] = k
    return counts.reshape(levels.shape)


@numba.njit(cache=True, nogil=True)
def _add_poisson_noise_kernel(rgb, levels, counts, scale):
    """clip(rgb + scale * (k / 256 - q / 255)); grey noise (one column) is shared by RGB."""
    out = np.empty_like(rgb)
    per_channel = levels.shape[1] == 3
    for p in range(rgb.shape[0]):
        for c in range(3):
            s = c if per_channel else 0
            noise = counts[p, s] * (1.0 / 256.0) - levels[p, s] * (1.0 / 255.0)  # no divisions
            v = rgb[p, c] + np.float32(scale * noise)
            out[p, c] = min(max(v, np.float32(0.0)), np.float32(1.0))
    return out


def poisson_noise_rgb(rgb: np.ndarray, scale: float, grey: bool, seed: int) -> np.ndarray:
    """Real-ESRGAN's Poisson noise (8-bit quantised source, vals=256) on float32 HxWx3, clipped.

    Three passes rather than one fused loop: quantising and adding vectorise, and the serial
    draw-and-search loop runs on its own (faster than one fused loop; docs/benchmarks.md)."""
    flat = rgb.reshape(-1, 3)
    cdf, guide = poisson_cdf_tables()
    levels = _quantise_kernel(flat, bool(grey))
    counts = _poisson_counts_kernel(levels, splitmix64_state(seed), cdf, guide)
    return _add_poisson_noise_kernel(flat, levels, counts, float(scale)).reshape(rgb.shape)


def poisson_noise(image: np.ndarray, scale: float, grey: bool = False, seed: int = 0):
    """Poisson (shot) noise on any accepted image layout."""
    return apply_on_any_image(lambda rgb: poisson_noise_rgb(rgb, scale, grey, seed), image)


def _sample_poisson(rng: np.random.Generator, image_shape) -> Params:
    return {"scale": float(rng.uniform(*POISSON_SCALE_RANGE)),
            "grey": bool(rng.random() < GREY_PROBABILITY), "seed": draw_seed(rng)}


def _validate_poisson(params: Params) -> None:
    check_keys("poisson_noise", params, ("scale", "grey", "seed"))
    check_number("poisson_noise", params, "scale", *POISSON_SCALE_RANGE)
    check_bool("poisson_noise", params, "grey")
    check_seed("poisson_noise", params)


# ---- severity: one natural unit for the three noise ops ------------------------------------
# Each is read as the standard deviation it adds at mid-grey (0.5), on the 0-255 scale, so a
# user compares them directly; the visibility floor is sigma 3 for all three.
MID_GREY = 0.5
NOISE_UNIT = "sigma at mid-grey (0-255)"
NOISE_FLOOR = 3.0


def poisson_sigma(scale: float) -> float:
    """Std of Poisson noise at mid-grey, 0-255: scale * sqrt(0.5 * vals) / vals * 255."""
    return float(scale) * math.sqrt(MID_GREY * POISSON_VALS) / POISSON_VALS * 255.0


def speckle_sigma(sigma: float) -> float:
    """Std of speckle noise at mid-grey, 0-255: 0.5 * sigma * 255."""
    return MID_GREY * float(sigma) * 255.0


def gaussian_params_at(sigma: float, rng: np.random.Generator) -> Params:
    """Colour Gaussian noise of exactly `sigma` (0-255; any sigma > 0, the sampled range is
    [1, 30]), its seed drawn from `rng`."""
    if not 0.0 < float(sigma) <= 255.0:
        raise ValueError(f"gaussian_noise: sigma {sigma:g} must be in (0, 255]")
    return {"sigma": float(sigma), "grey": False, "seed": draw_seed(rng)}


GAUSSIAN_SEVERITY = Severity(NOISE_UNIT, lambda p: float(p["sigma"]), 0.0,
                             GAUSSIAN_SIGMA_RANGE[1], NOISE_FLOOR, gaussian_params_at, "sigma")
POISSON_SEVERITY = Severity(NOISE_UNIT, lambda p: poisson_sigma(p["scale"]), 0.0,
                            poisson_sigma(POISSON_SCALE_RANGE[1]), NOISE_FLOOR)
SPECKLE_SEVERITY = Severity(NOISE_UNIT, lambda p: speckle_sigma(p["sigma"]), 0.0,
                            speckle_sigma(SPECKLE_SIGMA_RANGE[1]), NOISE_FLOOR)

GREY = Param("grey", "boolean", "one noise field shared by the three channels (else one per channel)")
NOISE_SEED = Param("seed", "seed", "seeds the noise field (xoshiro256++ via SplitMix64)")

GAUSSIAN_NOISE = Op("gaussian_noise", lambda rgb, p: gaussian_noise_rgb(rgb, **p),
                    _sample_gaussian, _validate_gaussian, GAUSSIAN_SEVERITY, params=(
                        Param("sigma", "number", "standard deviation of the additive noise",
                              "0-255 intensity levels", *GAUSSIAN_SIGMA_RANGE),
                        GREY, NOISE_SEED))
POISSON_NOISE = Op("poisson_noise", lambda rgb, p: poisson_noise_rgb(rgb, **p),
                   _sample_poisson, _validate_poisson, POISSON_SEVERITY, params=(
                       Param("scale", "number", "multiplier of the shot noise drawn at 256 "
                             "levels per unit intensity (Real-ESRGAN's poisson scale)",
                             "dimensionless", *POISSON_SCALE_RANGE),
                       GREY, NOISE_SEED))
SPECKLE_NOISE = Op("speckle_noise", lambda rgb, p: speckle_noise_rgb(rgb, **p),
                   _sample_speckle, _validate_speckle, SPECKLE_SEVERITY, params=(
                       Param("sigma", "number", "standard deviation of n in out = img + img * n",
                             "fraction of the pixel value", *SPECKLE_SIGMA_RANGE),
                       GREY, NOISE_SEED))

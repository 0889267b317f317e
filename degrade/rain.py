"""Synthetic rain: sparse random seeds smeared into straight streaks and blended over the image.

Parameters (ranges from the CoLoRA patent):
- amount in [10, 1000] (integer): seed density; each pixel starts a streak with probability
  amount / 25600 (the density of the widely used rain snippet, whose threshold keeps
  uniform(0, 256) values above 256 - amount / 100). Seeds are drawn over the image padded by
  half a streak on every side, so streaks enter through the borders as often as they leave.
- angle in [-80, 80] degrees from vertical; positive angles lean a streak's bottom to the right.
- length in [10, 90] (integer): each streak is a segment of `length` pixels centred on its seed,
  rasterised with bilinear weights, so the visible streak length equals the parameter (the
  copied snippet rescales its kernel by 1 - length / 100 and min-max normalises the result,
  which cancels the length).
- alpha in [0.3, 1.3]: the rain's brightness. The streak density map is divided by its maximum
  (as the snippet's min-max normalisation does), so where streaks pile up the densest point is
  fully rain and a lone streak is proportionally fainter: heavy rain stays see-through instead
  of turning the image white. With r that normalised density per pixel,
  out = clip(img * (1 - r) + alpha * r, 0, 1), the snippet's blend; alpha > 1 saturates.
- seed: the streak positions and per-streak brightness (uniform in [0.5, 1]).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from degrade.imageconv import apply_on_any_image
from degrade.op import Op, Param, Params, Severity
from degrade.paramcheck import check_int, check_keys, check_number, check_seed
from degrade.seeding import draw_seed

AMOUNT_RANGE = (10, 1000)
ANGLE_RANGE = (-80.0, 80.0)
LENGTH_RANGE = (10, 90)
ALPHA_RANGE = (0.3, 1.3)
SEED_DENSITY_PER_AMOUNT = 1.0 / 25600.0
BRIGHTNESS_RANGE = (0.5, 1.0)


def streak_direction(angle: float) -> tuple[float, float]:
    """(dy, dx) unit step along a streak at `angle` degrees from vertical."""
    theta = math.radians(angle)
    return math.cos(theta), math.sin(theta)


def streak_seeds(height: int, width: int, amount: int, length: int, seed: int):
    """(rows, cols, brightness) of the streak seeds, over the image padded by half a streak."""
    rng = np.random.default_rng(seed)
    pad = length // 2 + 2
    rows_span, cols_span = height + 2 * pad, width + 2 * pad
    count = int(rng.binomial(rows_span * cols_span, amount * SEED_DENSITY_PER_AMOUNT))
    rows = rng.integers(-pad, height + pad, count).astype(np.int64)
    cols = rng.integers(-pad, width + pad, count).astype(np.int64)
    brightness = rng.uniform(*BRIGHTNESS_RANGE, count).astype(np.float32)
    return rows, cols, brightness


@numba.njit(cache=True, nogil=True)
def _render_streaks(height, width, rows, cols, brightness, length, dy, dx):
    """Streak density map (H, W) float32: each seed adds `length + 1` unit-spaced samples along
    (dy, dx), centred on the seed, splatted with bilinear weights scaled by its brightness."""
    rain = np.zeros((height, width), np.float32)
    half = length / 2.0
    for s in range(rows.shape[0]):
        b = brightness[s]
        for i in range(length + 1):
            t = i - half
            y = rows[s] + t * dy
            x = cols[s] + t * dx
            y0 = int(math.floor(y))
            x0 = int(math.floor(x))
            fy = y - y0
            fx = x - x0
            for oy in range(2):
                yy = y0 + oy
                if yy < 0 or yy >= height:
                    continue
                wy = fy if oy == 1 else 1.0 - fy
                for ox in range(2):
                    xx = x0 + ox
                    if xx < 0 or xx >= width:
                        continue
                    wx = fx if ox == 1 else 1.0 - fx
                    rain[yy, xx] += np.float32(b * wy * wx)
    return rain


@numba.njit(cache=True, nogil=True)
def _blend_rain(rgb, rain, alpha):
    """clip(rgb * (1 - r) + alpha * r) with r = rain / max(rain, 1), per pixel, on HxWx3."""
    out = np.empty_like(rgb)
    a = np.float32(alpha)
    scale = np.float32(1.0) / max(np.float32(1.0), rain.max())
    for y in range(rgb.shape[0]):
        for x in range(rgb.shape[1]):
            r = rain[y, x] * scale
            for c in range(3):
                v = rgb[y, x, c] * (np.float32(1.0) - r) + a * r
                out[y, x, c] = min(max(v, np.float32(0.0)), np.float32(1.0))
    return out


def rain_map(height: int, width: int, amount: int, angle: float, length: int, seed: int):
    """The streak density map (before normalising by its maximum and blending), float32 HxW."""
    rows, cols, brightness = streak_seeds(height, width, amount, length, seed)
    dy, dx = streak_direction(angle)
    return _render_streaks(height, width, rows, cols, brightness, int(length), dy, dx)


def rain_rgb(rgb: np.ndarray, amount: int, angle: float, length: int, alpha: float,
             seed: int) -> np.ndarray:
    """Rain streaks blended over float32 HxWx3 RGB in [0, 1]."""
    streaks = rain_map(rgb.shape[0], rgb.shape[1], amount, angle, length, seed)
    return _blend_rain(rgb, streaks, float(alpha))


def rain(image: np.ndarray, amount: int, angle: float, length: int, alpha: float, seed: int = 0):
    """Rain streaks on any accepted image layout."""
    return apply_on_any_image(lambda rgb: rain_rgb(rgb, amount, angle, length, alpha, seed), image)


def _sample_rain(rng: np.random.Generator, image_shape) -> Params:
    return {"amount": int(rng.integers(AMOUNT_RANGE[0], AMOUNT_RANGE[1] + 1)),
            "angle": float(rng.uniform(*ANGLE_RANGE)),
            "length": int(rng.integers(LENGTH_RANGE[0], LENGTH_RANGE[1] + 1)),
            "alpha": float(rng.uniform(*ALPHA_RANGE)),
            "seed": draw_seed(rng)}


def _validate_rain(params: Params) -> None:
    check_keys("rain", params, ("amount", "angle", "length", "alpha", "seed"))
    check_int("rain", params, "amount", *AMOUNT_RANGE)
    check_number("rain", params, "angle", *ANGLE_RANGE)
    check_int("rain", params, "length", *LENGTH_RANGE)
    check_number("rain", params, "alpha", *ALPHA_RANGE)
    check_seed("rain", params)


# Rain strength is amount x alpha: how many streaks, times how bright. The fewest, faintest
# sampled rain (10 x 0.3 = 3) still leaves a few dim streaks; below 5 they are hard to see.
SEVERITY = Severity("amount x alpha", lambda p: float(p["amount"]) * float(p["alpha"]), 0.0,
                    AMOUNT_RANGE[1] * ALPHA_RANGE[1], 5.0)

RAIN = Op("rain", lambda rgb, p: rain_rgb(rgb, **p), _sample_rain, _validate_rain, SEVERITY, params=(
    Param("amount", "integer", "streak density: each pixel starts a streak with probability "
          "amount / 25600", "1/25600 per pixel", *AMOUNT_RANGE),
    Param("angle", "number", "streak direction from vertical; positive leans the bottom right",
          "degrees", *ANGLE_RANGE),
    Param("length", "integer", "length of every streak", "pixels", *LENGTH_RANGE),
    Param("alpha", "number", "rain brightness a in out = img * (1 - r) + a * r",
          "fraction of full intensity", *ALPHA_RANGE),
    Param("seed", "seed", "seeds the streak positions and brightnesses (numpy default_rng)")))


"""Camera-like samples: some crops are redrawn as a camera makes them, faint sensor noise then
JPEG, labelled Gaussian noise (at the noise's standard deviation) and JPEG, and as many as JPEG
alone at the same qualities, labelled JPEG: the estimator learns the difference, not a prior
that JPEG'd photographs are noisy. Used in the training steps (`camera_share`) and in the head
refit (`head_camera_share`); both off by default.

A camera's noise is not the pool's white noise: demosaicing spreads each pixel's noise over its
neighbours and it is mostly shared by the three channels. PolyU's real noisy shots (noisy minus
reference, median image): standard deviation 3.9 on 0-255, neighbour correlation 0.64 and 0.26
at one and two pixels (white noise blurred by a Gaussian of about 0.75 px), 23% of the variance
in colour. White noise that faint is what JPEG quantises away; correlated noise survives it, and
is what a photograph carries. Measured trade-offs in docs/estimator.md, ninth run.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from trainer.estimator.singles import apply_pool_op, redraw_samples

CAMERA_SIGMA = (2.0, 10.0)  # the noise's standard deviation on 0-255
CAMERA_QUALITY = (60, 95)
CAMERA_SPREAD = (0.0, 1.0)  # px: sigma of the Gaussian that correlates neighbouring pixels
CAMERA_CHROMA = (0.0, 0.6)  # share of the noise drawn per channel (the rest is shared)
CAMERA_NOISE = "camera_noise"  # the step's name; labelled as the pool's gaussian_noise


def camera_noise(image: np.ndarray, sigma: float, spread: float, chroma: float,
                 seed: int) -> np.ndarray:
    """`image` (float H x W x 3 in [0, 1]) plus a noise field of standard deviation `sigma`
    (0-255 scale): sqrt(1 - chroma) of it one grey field, sqrt(chroma) a field per channel, the
    sum blurred by a Gaussian of `spread` px (none at 0) and scaled back to `sigma`. Clipped
    to [0, 1], float32."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    field = (np.sqrt(1.0 - chroma) * rng.standard_normal((height, width, 1))
             + np.sqrt(chroma) * rng.standard_normal((height, width, 3)))
    if spread > 0:
        field = gaussian_filter(field, (spread, spread, 0), mode="reflect")
    field *= (sigma / 255.0) / max(float(field.std()), 1e-12)
    return np.clip(image + field, 0.0, 1.0).astype(np.float32)


def apply_camera_step(image: np.ndarray, name: str, params: dict) -> np.ndarray:
    """The camera's noise step, or an op of the pool."""
    if name == CAMERA_NOISE:
        return camera_noise(image, **params)
    return apply_pool_op(image, name, params)


def redraw_camera(lq: torch.Tensor, gt: torch.Tensor, presence: np.ndarray, level: np.ndarray,
                  ops: Sequence[str], count: int, rng: np.random.Generator):
    """`singles.redraw_samples` with, for half of the samples, camera noise (`camera_noise`:
    standard deviation, spread and colour share drawn uniformly from CAMERA_SIGMA,
    CAMERA_SPREAD and CAMERA_CHROMA) labelled as Gaussian noise of that sigma, then for all
    JPEG at a quality drawn uniformly from CAMERA_QUALITY. The batch is returned unchanged
    when `ops` lacks either op."""
    from degrade.registry import OPS

    if "gaussian_noise" not in ops or "jpeg" not in ops:
        return lq, presence, level
    noise, jpeg = OPS["gaussian_noise"].severity, OPS["jpeg"].severity

    def draw(rng):
        noisy = rng.random() < 0.5
        sigma = float(rng.uniform(*CAMERA_SIGMA))
        spread = float(rng.uniform(*CAMERA_SPREAD))
        chroma = float(rng.uniform(*CAMERA_CHROMA))
        seed = int(rng.integers(2 ** 31))
        quality = float(rng.integers(CAMERA_QUALITY[0], CAMERA_QUALITY[1] + 1))
        steps = [(ops.index("gaussian_noise"), CAMERA_NOISE,
                  dict(sigma=sigma, spread=spread, chroma=chroma, seed=seed),
                  noise.linear_level(sigma))] if noisy else []
        return steps + [(ops.index("jpeg"), "jpeg", jpeg.params_at(quality, rng),
                         jpeg.linear_level(quality))]

    ops = list(ops)
    return redraw_samples(lq, gt, presence, level, count, rng, draw, "redraw_camera",
                          apply_camera_step)

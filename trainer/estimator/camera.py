"""Camera-like samples for the head refit: some crops are redrawn as a camera makes them, faint
Gaussian noise (sigma CAMERA_SIGMA on 0-255) then JPEG (quality CAMERA_QUALITY), labelled with
both ops, and as many as JPEG alone at the same qualities, labelled JPEG: the head learns the
difference, not a prior that JPEG'd photographs are noisy.

Photographs carry exactly this: sensor noise just above the visibility floor, then the camera's
or the web's JPEG. In PROD chains noise that faint followed by JPEG is rare and often labelled
present where JPEG hid it, so the head learned to give it low probabilities (PolyU's real noisy
photographs: 1 of 100 reported as noise). Opt-in (`--head-camera-share`): measured trade-offs
in docs/estimator.md, eighth run.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from trainer.estimator.singles import redraw_samples

CAMERA_SIGMA = (2.0, 10.0)
CAMERA_QUALITY = (60, 95)


def redraw_camera(lq: torch.Tensor, gt: torch.Tensor, presence: np.ndarray, level: np.ndarray,
                  ops: Sequence[str], count: int, rng: np.random.Generator):
    """`singles.redraw_samples` with, for half of the samples, Gaussian noise of a sigma drawn
    uniformly from CAMERA_SIGMA, then for all JPEG at a quality drawn uniformly from
    CAMERA_QUALITY; labelled with what was applied. The batch is returned unchanged when `ops`
    lacks either op."""
    from degrade.registry import OPS

    if "gaussian_noise" not in ops or "jpeg" not in ops:
        return lq, presence, level
    noise, jpeg = OPS["gaussian_noise"].severity, OPS["jpeg"].severity

    def draw(rng):
        noisy = rng.random() < 0.5
        sigma = float(rng.uniform(*CAMERA_SIGMA))
        quality = float(rng.integers(CAMERA_QUALITY[0], CAMERA_QUALITY[1] + 1))
        steps = [("gaussian_noise", noise, sigma)] if noisy else []
        return [(list(ops).index(name), name, severity.params_at(value, rng),
                 severity.linear_level(value))
                for name, severity, value in steps + [("jpeg", jpeg, quality)]]

    return redraw_samples(lq, gt, presence, level, count, rng, draw, "redraw_camera")

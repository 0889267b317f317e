"""Haze by the atmospheric scattering model: a degradation kept outside the PROD pool.

I = J * t + A * (1 - t), with transmission t = exp(-beta * d). There are no depth maps for our
photographs, so the depth d in [0, 1] is a proxy: a blend of a vertical gradient (the top of a
photograph is usually farther away) and a smooth random field drawn from `field_seed` (bicubic
upsampling of a coarse grid of uniform values), so haze thickness varies across the picture.

The registry lists haze outside the default PROD pool (`degrade.registry`): chains draw it
only when a pool names it, and the reproduction study uses it as the novel task that
pre-training never saw. Its severity is the scattering coefficient beta.

Sampled ranges (`sample_haze_params`), those of the RESIDE synthetic haze benchmark:
    beta in [0.6, 1.8]            scattering coefficient (at d = 1, t from 0.55 down to 0.17)
    airlight in [0.7, 1.0]        grey atmospheric light A
    gradient_weight in [0.3, 0.8] share of the vertical gradient in the depth proxy
    field_cells in {2, 3, 4}      coarse grid size of the random field (fewer = smoother)
    field_seed in [0, 2**31)      seed of the random field
Accepted by `validate_haze_params` (wider, for explicit use): beta in [0, 5], airlight in [0, 1],
gradient_weight in [0, 1], field_cells in [1, 16], field_seed >= 0.
"""
from __future__ import annotations

import cv2
import numpy as np

from degrade.op import Op, Param, Params, Severity

BETA_RANGE = (0.6, 1.8)
AIRLIGHT_RANGE = (0.7, 1.0)
GRADIENT_WEIGHT_RANGE = (0.3, 0.8)
FIELD_CELLS_CHOICES = (2, 3, 4)

_LIMITS = {"beta": (0.0, 5.0), "airlight": (0.0, 1.0), "gradient_weight": (0.0, 1.0),
           "field_cells": (1, 16)}


def depth_proxy(height: int, width: int, gradient_weight: float, field_cells: int,
                field_seed: int) -> np.ndarray:
    """Depth in [0, 1] (1 = far): w * vertical gradient + (1 - w) * smooth random field."""
    rows = np.arange(height, dtype=np.float32)
    gradient = 1.0 - rows / max(height - 1, 1)  # 1 at the top row, 0 at the bottom row
    cells = int(field_cells)
    coarse = np.random.default_rng(int(field_seed)).random((cells, cells))
    field = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    field = np.clip(field, 0.0, 1.0)  # bicubic overshoots slightly outside the grid's range
    return (gradient_weight * gradient[:, None] + (1.0 - gradient_weight) * field).astype(np.float32)


def apply_haze(image: np.ndarray, params: Params) -> np.ndarray:
    """Hazy version of a float32 HxWx3 image in [0, 1]; same shape, float32, in [0, 1]."""
    validate_haze_params(params)
    height, width = image.shape[:2]
    depth = depth_proxy(height, width, params["gradient_weight"], params["field_cells"],
                        params["field_seed"])
    transmission = np.exp(-np.float32(params["beta"]) * depth)[:, :, None]
    airlight = np.float32(params["airlight"])
    hazy = image.astype(np.float32) * transmission + airlight * (1.0 - transmission)
    return np.clip(hazy, 0.0, 1.0).astype(np.float32)


def sample_haze_params(rng: np.random.Generator, image_shape: tuple[int, ...]) -> Params:
    """Parameters drawn from the documented ranges (plain JSON types)."""
    del image_shape  # the depth proxy scales to any size
    return {
        "beta": float(rng.uniform(*BETA_RANGE)),
        "airlight": float(rng.uniform(*AIRLIGHT_RANGE)),
        "gradient_weight": float(rng.uniform(*GRADIENT_WEIGHT_RANGE)),
        "field_cells": int(rng.choice(FIELD_CELLS_CHOICES)),
        "field_seed": int(rng.integers(0, 2**31)),
    }


def validate_haze_params(params: Params) -> None:
    """Raise ValueError("haze: <param> ...") for a missing or out-of-range parameter."""
    for name in (*_LIMITS, "field_seed"):
        if name not in params:
            raise ValueError(f"haze: missing parameter {name!r}")
    for name, (low, high) in _LIMITS.items():
        value = params[name]
        if not low <= value <= high:
            raise ValueError(f"haze: {name}={value!r} outside [{low}, {high}]")
    if int(params["field_cells"]) != params["field_cells"]:
        raise ValueError(f"haze: field_cells={params['field_cells']!r} is not an integer")
    if int(params["field_seed"]) != params["field_seed"] or params["field_seed"] < 0:
        raise ValueError(f"haze: field_seed={params['field_seed']!r} is not an integer >= 0")


# beta 0.2 leaves t >= 0.82 everywhere: a faint veil, the visibility floor.
SEVERITY = Severity("beta (scattering coefficient)", lambda p: float(p["beta"]), 0.0,
                    BETA_RANGE[1], 0.2)

HAZE = Op(name="haze", apply=apply_haze, sample_params=sample_haze_params,
          validate=validate_haze_params, severity=SEVERITY, params=(
              Param("beta", "number", "scattering coefficient: transmission t = exp(-beta * d) "
                    "at proxy depth d in [0, 1]", "per unit depth", *_LIMITS["beta"]),
              Param("airlight", "number", "grey atmospheric light A in I = J * t + A * (1 - t)",
                    "fraction of full intensity", *_LIMITS["airlight"]),
              Param("gradient_weight", "number", "share of the vertical gradient in the depth "
                    "proxy (the rest is a smooth random field)", "dimensionless",
                    *_LIMITS["gradient_weight"]),
              Param("field_cells", "integer", "side of the coarse grid of the random depth "
                    "field (fewer is smoother)", "cells", *_LIMITS["field_cells"]),
              Param("field_seed", "seed", "seeds the random depth field (numpy default_rng)")))

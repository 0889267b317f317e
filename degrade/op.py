"""The shape every degradation op shares: how to apply it, sample it, validate it and rate it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Params = dict[str, Any]


@dataclass(frozen=True)
class Severity:
    """How strongly one application of an op degrades an image, from its params alone.

    measure: params -> the strength in the op's natural unit (`unit`, what users read: noise
        sigma on 0-255, JPEG quality, blur sigma in pixels...).
    level: that value mapped linearly onto [0, 1] and clipped, `zero` -> 0 and `full` -> 1
        (`full` < `zero` when a larger natural value means less damage, as JPEG quality).
        `zero`/`full` span the sampled range, so the level is monotone in the damage done.
    floor: the visibility floor in natural units: below it (above it, for JPEG quality) the op
        changes an 8-bit image imperceptibly.
    """

    unit: str
    measure: Callable[[Params], float]
    zero: float
    full: float
    floor: float

    def level(self, params: Params) -> float:
        return self.level_of(self.measure(params))

    def level_of(self, natural: float) -> float:
        """The level of a natural-unit value (clipped to [0, 1])."""
        return float(np.clip((natural - self.zero) / (self.full - self.zero), 0.0, 1.0))

    def natural(self, level: float) -> float:
        """The natural-unit value of a level in [0, 1]: the inverse of `level_of` on its range."""
        return float(self.zero + float(level) * (self.full - self.zero))

    @property
    def floor_level(self) -> float:
        return self.level_of(self.floor)


@dataclass(frozen=True)
class Op:
    """One degradation function.

    apply: (float32 HxWx3 C-contiguous image in [0, 1], params) -> float32 HxWx3 in [0, 1].
        Dtype and shape conversions (uint8, uint16, grey, RGBA) happen once, outside the op.
    sample_params: (numpy Generator, image shape) -> params drawn from the paper's ranges,
        plain JSON types only, so a chain record round-trips through json.
    validate: params -> None, raising ValueError("<op>: <param> ... ") for anything out of range.
    severity: the op's level in [0, 1] and natural unit (see Severity), computed from params,
        so stored records of any age carry their levels.
    """

    name: str
    apply: Callable[[np.ndarray, Params], np.ndarray]
    sample_params: Callable[[np.random.Generator, tuple[int, ...]], Params]
    validate: Callable[[Params], None]
    severity: Severity

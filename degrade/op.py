"""The shape every degradation op shares: how to apply it, sample it and validate it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Params = dict[str, Any]


@dataclass(frozen=True)
class Op:
    """One degradation function of the PROD pool.

    apply: (float32 HxWx3 C-contiguous image in [0, 1], params) -> float32 HxWx3 in [0, 1].
        Dtype and shape conversions (uint8, uint16, grey, RGBA) happen once, outside the op.
    sample_params: (numpy Generator, image shape) -> params drawn from the paper's ranges,
        plain JSON types only, so a chain record round-trips through json.
    validate: params -> None, raising ValueError("<op>: <param> ... ") for anything out of range.
    """

    name: str
    apply: Callable[[np.ndarray, Params], np.ndarray]
    sample_params: Callable[[np.random.Generator, tuple[int, ...]], Params]
    validate: Callable[[Params], None]

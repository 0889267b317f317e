"""The shape every degradation op shares: how to apply it, sample it, validate it and rate it,
and the declaration of its parameters (what each means, its unit and range) that the record's
JSON Schema, the index columns and record decoding are derived from."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Params = dict[str, Any]

# What a parameter holds. "seed": an integer in [0, 2**63) written in records as a decimal
# string, because JSON readers that parse numbers as doubles (JavaScript, jq 1.6) change
# integers above 2**53. "points": a list of [x, y] number pairs.
PARAM_KINDS = ("number", "integer", "boolean", "string", "seed", "points")


@dataclass(frozen=True)
class Param:
    """One parameter of an op, as a record stores it."""

    name: str
    kind: str
    meaning: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {PARAM_KINDS}")

    def to_record(self, value):
        """The value as a record stores it (seeds as decimal strings)."""
        return str(int(value)) if self.kind == "seed" else value

    def from_record(self, value):
        """The value the op's apply takes, from any record version or an Arrow round trip.

        Seeds: a decimal string (version 2) or an integer (version 1). Integers: also an
        integral float, as JSON and JSON Schema allow. Anything else is left for validate.
        """
        if self.kind == "seed" and isinstance(value, str) and value.isascii() and value.isdigit():
            return int(value)
        if (self.kind == "integer" and isinstance(value, (float, np.floating))
                and float(value).is_integer()):
            return int(value)
        return value


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
    params_at: (natural value, numpy Generator) -> params of exactly that strength, the others
        drawn (a noise seed...); ValueError for a value the op cannot take. None: the op's
        strength is not one number that can be set (level-conditioned adapters need it).
        Values beyond the sampled range are allowed where the op's formula is.
    symbol: the unit's short name a user may append to a value (`25sigma`, `30quality`).
    integral: the natural value is an integer (JPEG quality): `snap` rounds to it.
    """

    unit: str
    measure: Callable[[Params], float]
    zero: float
    full: float
    floor: float
    params_at: Callable[[float, np.random.Generator], Params] | None = None
    symbol: str = ""
    integral: bool = False

    def level(self, params: Params) -> float:
        return self.level_of(self.measure(params))

    def level_of(self, natural: float) -> float:
        """The level of a natural-unit value (clipped to [0, 1])."""
        return float(np.clip((natural - self.zero) / (self.full - self.zero), 0.0, 1.0))

    def snap(self, natural: float) -> float:
        """The nearest natural value the op can be set to."""
        return float(round(float(natural))) if self.integral else float(natural)

    def linear_level(self, natural: float) -> float:
        """The level of a natural-unit value on the same linear scale, not clipped: values
        beyond the sampled range get levels below 0 or above 1."""
        return float((float(natural) - self.zero) / (self.full - self.zero))

    def natural(self, level: float) -> float:
        """The natural-unit value of a level in [0, 1]: the inverse of `level_of` on its range."""
        return float(self.zero + float(level) * (self.full - self.zero))

    @property
    def floor_level(self) -> float:
        return self.level_of(self.floor)

    def accepts(self, natural: float) -> bool:
        """`params_at` takes this value (snapped): the op can be set to it."""
        if self.params_at is None:
            return False
        try:
            self.params_at(self.snap(natural), np.random.default_rng(0))
        except ValueError:
            return False
        return True

    def nearest_settable(self, natural: float, towards: float, steps: int = 40) -> float:
        """`natural` when the op can be set to it, else the value nearest to it, on the way to
        `towards` (one it accepts, e.g. a sampled value), that it can: the edge of its limit
        (JPEG quality 1), found by bisection and not snapped. 40 steps stay about 1e-10 inside
        the edge, so the value survives a round trip through its level. Values beyond the
        sampled range are accepted up to a limit, so acceptance changes once between the two."""
        if self.accepts(natural):
            return float(natural)
        outside, inside = float(natural), float(towards)
        for _ in range(steps):
            middle = (outside + inside) / 2
            outside, inside = (outside, middle) if self.accepts(middle) else (middle, inside)
        return inside


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
    params: the declaration of every parameter sample_params returns.
    """

    name: str
    apply: Callable[[np.ndarray, Params], np.ndarray]
    sample_params: Callable[[np.random.Generator, tuple[int, ...]], Params]
    validate: Callable[[Params], None]
    severity: Severity
    params: tuple[Param, ...] = ()

    def draw(self, rng: np.random.Generator, image_shape: tuple[int, ...]) -> Params:
        """sample_params in record form: every value a JSON reader keeps exactly."""
        declared = {p.name: p for p in self.params}
        return {key: declared[key].to_record(value) if key in declared else value
                for key, value in self.sample_params(rng, image_shape).items()}

    def decode(self, params: Mapping) -> Params:
        """Record params -> apply's params, for every record version and reader.

        Drops None-valued keys the op does not declare: Arrow readers (Hugging Face datasets,
        polars) merge the params of all ops into one struct and fill the others with None.
        """
        if not isinstance(params, Mapping):
            return params  # validate names the problem
        declared = {p.name: p for p in self.params}
        return {key: declared[key].from_record(value) if key in declared else value
                for key, value in params.items() if value is not None or key in declared}

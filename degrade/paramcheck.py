"""Validation helpers shared by the ops' `validate` functions: one-line ValueErrors naming the op
and the parameter."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from degrade.seeding import SEED_BOUND


def check_keys(op: str, params: Mapping, expected: Iterable[str]) -> None:
    """Exactly the expected keys: a missing or unknown key is an error."""
    if not isinstance(params, Mapping):
        raise ValueError(f"{op}: params must be a mapping, got {type(params).__name__}")
    expected = set(expected)
    missing = sorted(expected - set(params))
    unknown = sorted(set(params) - expected)
    if missing:
        raise ValueError(f"{op}: missing parameter {missing[0]!r}")
    if unknown:
        raise ValueError(f"{op}: unknown parameter {unknown[0]!r}")


def check_number(op: str, params: Mapping, key: str, low: float, high: float) -> None:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{op}: {key} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{op}: {key}={value!r} is outside [{low}, {high}]")


def check_int(op: str, params: Mapping, key: str, low: int, high: int) -> None:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{op}: {key} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{op}: {key}={value!r} is outside [{low}, {high}]")


def check_bool(op: str, params: Mapping, key: str) -> None:
    if not isinstance(params[key], bool):
        raise ValueError(f"{op}: {key} must be true or false, got {params[key]!r}")


def check_seed(op: str, params: Mapping, key: str = "seed") -> None:
    """An integer in [0, 2**63) (records write it as a decimal string; Op.decode parses it)."""
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_BOUND:
        raise ValueError(f"{op}: {key} must be an integer in [0, 2**63) or its decimal string, "
                         f"got {value!r}")

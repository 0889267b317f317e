"""PROD chains and their baselines: draw a chain of ops, apply it, record it, replay it.

A chain is data: a list of {"name": op name, "params": {...}}. `degrade` draws one from a seed
and returns the image with its record (see docs/architecture.md); `replay` re-applies a record
bit for bit.

Modes (the paper's pre-training baselines):
- prod: length L uniform in min_length..max_length, each op drawn uniformly from the pool with
  replacement, applied in the drawn (random) order.
- fixed: a random subset of the pool applied in the canonical order. Each op is included with
  the same probability p, conditioned on the subset size lying in min_length..min(K,
  max_length); p is solved so the expected length equals PROD's, (min_length + max_length) / 2
  (p = 0.5 for K=7, N=6), or the size is the nearest bound when that mean is out of reach.
- single: exactly one op, uniform over the pool.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from math import comb

import numpy as np

from degrade.imageconv import from_float_rgb, to_float_rgb
from degrade.registry import CANONICAL_ORDER, KNOWN_OPS, OPS, unknown_op_message

# Version 2 writes seeds (the chain's and the ops' random-field seeds) as decimal strings, so
# every JSON reader keeps them; version 1 records (integer seeds) still replay.
RECORD_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODES = ("prod", "fixed", "single")
Chain = list[dict]


def space_size(k: int, n: int) -> int:
    """Distinct op sequences of length 0..n over k ops: (k^(n+1) - 1) / (k - 1)."""
    if k < 1 or n < 0:
        raise ValueError(f"space_size needs k >= 1 and n >= 0, got k={k}, n={n}")
    return n + 1 if k == 1 else (k ** (n + 1) - 1) // (k - 1)


def check_chain_options(pool: Sequence[str], max_length: int, mode: str, min_length: int) -> None:
    """One-line ValueError for an unknown op or mode, or lengths outside 0 <= min <= max, max >= 1."""
    if not pool:
        raise ValueError("the op pool is empty")
    for name in pool:
        if name not in OPS:
            raise ValueError(unknown_op_message(name))
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"N (max_length) must be an integer >= 1, got {max_length!r}")
    if (isinstance(min_length, bool) or not isinstance(min_length, int)
            or not 0 <= min_length <= max_length):
        raise ValueError(f"min_length must be an integer in 0..{max_length}, got {min_length!r}")


# ---- fixed mode: the subset-size distribution ----------------------------------------------

def _truncated_binomial(k: int, p: float, low: int, high: int) -> np.ndarray:
    sizes = np.arange(low, high + 1)
    pmf = np.array([comb(k, int(s)) * p ** s * (1 - p) ** (k - s) for s in sizes])
    return pmf / pmf.sum()


@lru_cache(maxsize=64)
def fixed_size_distribution(k: int, max_length: int, min_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(sizes, probabilities) of fixed mode's subset size, with mean PROD's expected length."""
    low, high = min_length, min(k, max_length)
    if low > high:
        raise ValueError(f"fixed mode cannot pick {min_length} distinct ops from a pool of {k}")
    target = (min_length + max_length) / 2
    if target <= low or target >= high:
        size = low if target <= low else high
        return np.array([size]), np.array([1.0])
    lo_p, hi_p = 0.0, 1.0
    for _ in range(100):  # the truncated mean grows monotonically with p
        p = (lo_p + hi_p) / 2
        mean = _truncated_binomial(k, p, low, high) @ np.arange(low, high + 1)
        lo_p, hi_p = (p, hi_p) if mean < target else (lo_p, p)
    p = (lo_p + hi_p) / 2
    return np.arange(low, high + 1), _truncated_binomial(k, p, low, high)


# ---- drawing chains -------------------------------------------------------------------------

def _draw_names(rng: np.random.Generator, pool: Sequence[str], max_length: int, mode: str,
                min_length: int) -> list[str]:
    if mode == "single":
        return [pool[int(rng.integers(len(pool)))]]
    if mode == "prod":
        length = int(rng.integers(min_length, max_length + 1))
        return [pool[int(i)] for i in rng.integers(len(pool), size=length)]
    sizes, probabilities = fixed_size_distribution(len(pool), max_length, min_length)
    size = int(sizes[rng.choice(len(sizes), p=probabilities)])
    chosen = [pool[int(i)] for i in rng.choice(len(pool), size=size, replace=False)]
    return sorted(chosen, key=KNOWN_OPS.index)


def sample_chain(rng: np.random.Generator, pool: Sequence[str], max_length: int,
                 mode: str = "prod", min_length: int = 1,
                 image_shape: tuple[int, ...] = (256, 256, 3)) -> Chain:
    """Draw op names for `mode`, then each op's params, all from `rng`."""
    check_chain_options(pool, max_length, mode, min_length)
    names = _draw_names(rng, list(pool), max_length, mode, min_length)
    return [{"name": name, "params": OPS[name].draw(rng, tuple(image_shape))} for name in names]


# ---- applying, recording, replaying --------------------------------------------------------

def validate_chain(ops: Sequence[Mapping]) -> None:
    """ValueError naming the first unknown op or out-of-range parameter of a chain."""
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise ValueError("the chain's ops must be a list of {name, params}")
    for position, step in enumerate(ops):
        if not isinstance(step, Mapping) or "name" not in step or "params" not in step:
            raise ValueError(f"chain step {position} must be an object with 'name' and 'params'")
        if step["name"] not in OPS:
            raise ValueError(f"chain step {position}: unknown op {step['name']!r}")
        op = OPS[step["name"]]
        op.validate(op.decode(step["params"]))


def apply_chain(image: np.ndarray, ops: Sequence[Mapping]) -> np.ndarray:
    """Apply the ops in order; returns the image's own dtype and layout (see degrade.imageconv)."""
    validate_chain(ops)
    rgb, layout = to_float_rgb(image)
    for step in ops:
        op = OPS[step["name"]]
        rgb = op.apply(rgb, op.decode(step["params"]))
    return from_float_rgb(rgb, layout)


def degrade(image: np.ndarray, seed: int, pool: Sequence[str] = CANONICAL_ORDER,
            max_length: int = 6, mode: str = "prod", min_length: int = 1) -> tuple[np.ndarray, dict]:
    """Draw a chain from `seed`, apply it to `image`, and return (degraded image, record)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    pool = list(pool)
    ops = sample_chain(np.random.default_rng(int(seed)), pool, max_length, mode, min_length,
                       image.shape)
    record = {"version": RECORD_VERSION, "seed": str(int(seed)), "mode": mode, "pool": pool,
              "max_length": max_length, "min_length": min_length, "ops": ops}
    return apply_chain(image, ops), record


def degrade_named(image: np.ndarray, names: Sequence[str], seed: int) -> tuple[np.ndarray, dict]:
    """Apply the named ops in the given order, their params drawn from `seed`; (image, record).

    The record describes the chain as a PROD draw of exactly that length from those ops
    (mode "prod", min_length = max_length = len(names)), so replay and readers treat it alike.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    names = list(names)
    check_chain_options(names, max(len(names), 1), "prod", len(names))
    rng = np.random.default_rng(int(seed))
    ops = [{"name": name, "params": OPS[name].draw(rng, image.shape)} for name in names]
    pool = list(dict.fromkeys(names))
    record = {"version": RECORD_VERSION, "seed": str(int(seed)), "mode": "prod", "pool": pool,
              "max_length": len(names), "min_length": len(names), "ops": ops}
    return apply_chain(image, ops), record


def validate_record(record: Mapping) -> None:
    """ValueError with a one-line reason if `record` cannot be replayed by this engine."""
    if not isinstance(record, Mapping):
        raise ValueError("a chain record must be a JSON object")
    if record.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"record version {record.get('version')!r} is not supported "
                         f"(this engine reads versions {', '.join(map(str, READABLE_VERSIONS))})")
    if "ops" not in record:
        raise ValueError("the record has no 'ops' list")
    validate_chain(record["ops"])


def replay(record: Mapping, clean: np.ndarray) -> np.ndarray:
    """Re-apply a record's ops to the clean image: the same bytes `degrade` returned."""
    validate_record(record)
    return apply_chain(clean, record["ops"])

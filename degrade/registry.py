"""Every registered op: name -> Op lookup, pool membership, and pool selection from options.

An op registers once, below, with the module attribute that defines it and whether it belongs
to the default PROD pool. Ops outside the pool (haze) are known everywhere (records, replay,
`degrade apply --chain`, tasks) but chains draw them only when a pool names them. Adding an op
is its own module plus one line here.

Op modules are imported on first lookup, so `import degrade.registry` stays cheap (no numba, no
OpenCV) and the CLI's --help is instant.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence

from degrade.op import Op

IN_POOL, OUTSIDE_POOL = True, False

# name -> ("module:attribute", member of the default PROD pool?), in canonical order.
_REGISTRATIONS: dict[str, tuple[str, bool]] = {
    "gaussian_noise": ("degrade.noise:GAUSSIAN_NOISE", IN_POOL),
    "poisson_noise": ("degrade.noise:POISSON_NOISE", IN_POOL),
    "speckle_noise": ("degrade.noise:SPECKLE_NOISE", IN_POOL),
    "gaussian_blur": ("degrade.blur:GAUSSIAN_BLUR", IN_POOL),
    "motion_blur": ("degrade.motion:MOTION_BLUR", IN_POOL),
    "jpeg": ("degrade.jpeg:JPEG", IN_POOL),
    "rain": ("degrade.rain:RAIN", IN_POOL),
    "haze": ("degrade.haze:HAZE", OUTSIDE_POOL),
}

# The default PROD pool, in canonical order (the paper's K=7).
CANONICAL_ORDER: tuple[str, ...] = tuple(
    name for name, (_, in_pool) in _REGISTRATIONS.items() if in_pool)
# Registered ops that no default pool draws: usable by name only.
EXTRA_OPS: tuple[str, ...] = tuple(
    name for name, (_, in_pool) in _REGISTRATIONS.items() if not in_pool)
KNOWN_OPS: tuple[str, ...] = CANONICAL_ORDER + EXTRA_OPS


def in_default_pool(name: str) -> bool:
    """Whether a registered op belongs to the default PROD pool (KeyError for unknown names)."""
    return _REGISTRATIONS[name][1]


def ops_help() -> str:
    """The op names for --help texts: the default pool, then the ops outside it."""
    text = ", ".join(CANONICAL_ORDER)
    return f"{text} (the default pool); outside it: {', '.join(EXTRA_OPS)}" if EXTRA_OPS else text


class _LazyOps(Mapping):
    """Read-only {name: Op} of every registered op (the default pool first, in canonical order);
    each op's module is imported when first asked for."""

    def __init__(self, locations: Mapping[str, str]):
        self._locations = dict(locations)
        self._loaded: dict[str, Op] = {}

    def __getitem__(self, name: str) -> Op:
        if name not in self._loaded:
            if name not in self._locations:
                raise KeyError(name)
            module_name, attribute = self._locations[name].split(":")
            self._loaded[name] = getattr(importlib.import_module(module_name), attribute)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    def __repr__(self) -> str:
        return f"OPS({', '.join(self._locations)})"


OPS: Mapping[str, Op] = _LazyOps({name: location for name, (location, _) in _REGISTRATIONS.items()})


def resolve_pool(ops: Sequence[str] | str | None = None, k: int | None = None) -> list[str]:
    """The pool of op names a chain draws from.

    `ops` names the pool explicitly (a list or a comma-separated string, in the given order,
    duplicates removed; any registered op, in the default pool or not); `k` keeps the first K
    of it (of CANONICAL_ORDER, the default pool, when `ops` is None).
    Raises ValueError with a one-line message naming the unknown op or the bad K.
    """
    if ops is None:
        names = list(CANONICAL_ORDER)
    else:
        if isinstance(ops, str):
            ops = [part for part in ops.split(",")]
        names = []
        for raw in ops:
            name = raw.strip()
            if name not in _REGISTRATIONS:
                raise ValueError(unknown_op_message(name))
            if name not in names:
                names.append(name)
        if not names:
            raise ValueError("the op pool is empty; name at least one op")
    if k is None:
        return names
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(names):
        raise ValueError(f"K={k!r} is outside 1..{len(names)} (the size of the op pool)")
    return names[:k]


def unknown_op_message(name: object) -> str:
    return f"unknown op {name!r}; known ops: {', '.join(KNOWN_OPS)}"

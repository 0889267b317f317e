"""The PROD op pool: canonical order, name -> Op lookup, and pool selection from CLI-style options.

Op modules are imported on first lookup, so `import degrade.registry` stays cheap (no numba, no
OpenCV) and the CLI's --help is instant.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence

from degrade.op import Op

CANONICAL_ORDER: tuple[str, ...] = (
    "gaussian_noise",
    "poisson_noise",
    "speckle_noise",
    "gaussian_blur",
    "motion_blur",
    "jpeg",
    "rain",
)

_OP_LOCATIONS: dict[str, str] = {
    "gaussian_noise": "degrade.noise:GAUSSIAN_NOISE",
    "poisson_noise": "degrade.noise:POISSON_NOISE",
    "speckle_noise": "degrade.noise:SPECKLE_NOISE",
    "gaussian_blur": "degrade.blur:GAUSSIAN_BLUR",
    "motion_blur": "degrade.motion:MOTION_BLUR",
    "jpeg": "degrade.jpeg:JPEG",
    "rain": "degrade.rain:RAIN",
}


class _LazyOps(Mapping):
    """Read-only {name: Op} in canonical order; each op's module is imported when first asked for."""

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


OPS: Mapping[str, Op] = _LazyOps(_OP_LOCATIONS)


def resolve_pool(ops: Sequence[str] | str | None = None, k: int | None = None) -> list[str]:
    """The pool of op names a chain draws from.

    `ops` names the pool explicitly (a list or a comma-separated string, in the given order,
    duplicates removed); `k` keeps the first K of it (of CANONICAL_ORDER when `ops` is None).
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
            if name not in _OP_LOCATIONS:
                raise ValueError(f"unknown op {name!r}; known ops: {', '.join(CANONICAL_ORDER)}")
            if name not in names:
                names.append(name)
        if not names:
            raise ValueError("the op pool is empty; name at least one op")
    if k is None:
        return names
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(names):
        raise ValueError(f"K={k!r} is outside 1..{len(names)} (the size of the op pool)")
    return names[:k]

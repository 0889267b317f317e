"""PROD synthetic degradations as pure functions on numpy arrays.

Public API (imported on first use, so `import degrade` and the CLI's --help stay instant):
    degrade.degrade(image, seed, pool, max_length, mode, min_length) -> (image, record)
    degrade.replay(record, clean) -> image
    degrade.apply_chain(image, ops), degrade.sample_chain(rng, pool, ...), degrade.space_size(k, n)
    degrade.OPS, degrade.CANONICAL_ORDER, degrade.resolve_pool(ops, k), degrade.sample_seed(...)
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "degrade": "degrade.chain", "replay": "degrade.chain", "apply_chain": "degrade.chain",
    "sample_chain": "degrade.chain", "space_size": "degrade.chain",
    "RECORD_VERSION": "degrade.chain",
    "OPS": "degrade.registry", "CANONICAL_ORDER": "degrade.registry",
    "resolve_pool": "degrade.registry",
    "sample_seed": "degrade.seeding",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'degrade' has no attribute {name!r}")

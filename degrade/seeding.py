"""Per-sample seeds derived from (global seed, sample index, stream) only.

Never from process, worker or thread identity, so the same global seed gives the same bytes
whatever the number of workers.
"""
from __future__ import annotations

import numpy as np

# Seeds stay below 2**63 so they fit int64 columns (Arrow, torch) as well as JSON.
SEED_BOUND = 2**63


def _check_non_negative_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def sample_seed(global_seed: int, index: int, stream: int = 0) -> int:
    """A seed for sample `index` of a run seeded with `global_seed`.

    `stream` separates independent uses of the same sample (chain=0, crop=1, ...), so drawing
    more numbers in one use never shifts another. Hashing goes through numpy's SeedSequence,
    whose mixing keeps nearby (seed, index) pairs statistically independent.
    """
    entropy = [_check_non_negative_int(global_seed, "global_seed"),
               _check_non_negative_int(index, "index"),
               _check_non_negative_int(stream, "stream")]
    words = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(words[0]) << 32 | int(words[1])) % SEED_BOUND)


def draw_seed(rng: np.random.Generator) -> int:
    """A fresh seed for an op's own random field (noise, rain seeds), drawn from the chain's rng."""
    return int(rng.integers(0, SEED_BOUND))

"""The deterministic plan of a build: each sample's key, source, crop box and chain seed, and
which samples each shard holds.

Everything here is a pure function of (global seed, sample index, usable sources, options), so
any process, on any machine, in any order, computes the same plan for the same sample.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from degrade.crops import random_window
from degrade.seeding import CHAIN, CROP, sample_seed

@dataclass(frozen=True)
class SourceShape:
    """A usable source's height and width once decoded upright (EXIF rotation applied)."""

    height: int
    width: int


@dataclass(frozen=True)
class SamplePlan:
    index: int
    key: str
    source: int               # index into the list of usable sources
    chain_seed: int
    crop: tuple[int, int, int, int]  # (y, x, h, w) in the upright source image


@dataclass(frozen=True)
class ShardPlan:
    index: int
    name: str
    first: int  # first sample index (inclusive)
    stop: int   # last sample index + 1

    @property
    def count(self) -> int:
        return self.stop - self.first


def sample_key(index: int) -> str:
    """Zero-padded decimal: sorts like the index and contains no dot (webdataset splits at dots)."""
    return f"{index:09d}"


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


def source_for_sample(index: int, count: int, n_sources: int) -> int:
    """Contiguous, near-equal runs of samples per source, so a shard task decodes few sources."""
    return index * n_sources // count


def crop_box(seed: int, index: int, shape: SourceShape, patch: int) -> tuple[int, int, int, int]:
    if patch == 0:
        return (0, 0, shape.height, shape.width)
    rng = np.random.default_rng(sample_seed(seed, index, CROP))
    y, x = random_window(rng, (shape.height, shape.width), patch)
    return (y, x, patch, patch)


def plan_sample(seed: int, index: int, count: int, shapes: Mapping[int, SourceShape] | Sequence[SourceShape],
                patch: int, n_sources: int | None = None) -> SamplePlan:
    """`shapes` maps usable-source index -> shape (a list, or only the entries this sample may
    use, with `n_sources` the number of usable sources)."""
    source = source_for_sample(index, count, len(shapes) if n_sources is None else n_sources)
    return SamplePlan(index=index, key=sample_key(index), source=source,
                      chain_seed=sample_seed(seed, index, CHAIN),
                      crop=crop_box(seed, index, shapes[source], patch))


def plan_shards(count: int, shard_size: int) -> list[ShardPlan]:
    starts = range(0, count, shard_size)
    return [ShardPlan(i, shard_name(i), first, min(first + shard_size, count))
            for i, first in enumerate(starts)]

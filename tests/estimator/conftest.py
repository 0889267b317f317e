"""Fixtures for the estimator tests: tiny real shard folders (embedded images) and a tiny
trained estimator."""
from __future__ import annotations

import pytest


def _build(out, count, ops=None, seed=0, n=6):
    from pipelines.build import BuildConfig, build_shards
    build_shards(BuildConfig(out=str(out), count=count, patch=32, shard_size=8, workers=1,
                             ops=ops, n=n, seed=seed, progress=False))
    return out


@pytest.fixture(scope="session")
def prod_shards(tmp_path_factory):
    """24 PROD pairs of 32x32 over the default pool (K=7, N=6)."""
    return _build(tmp_path_factory.mktemp("est") / "prod", 24)


@pytest.fixture(scope="session")
def small_pool_shards(tmp_path_factory):
    """16 pairs over the pool jpeg, rain only."""
    return _build(tmp_path_factory.mktemp("est") / "small", 16, ops=("jpeg", "rain"), n=2)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, prod_shards):
    """A run folder of an estimator trained 4 steps on prod_shards (patch 32)."""
    from trainer.estimator.training import EstimatorTrainConfig, train_estimator

    out = tmp_path_factory.mktemp("est") / "run"
    train_estimator(EstimatorTrainConfig(str(prod_shards), str(out), steps=4, batch=4, patch=32, head_crops=8,
                                         ckpt_every=2, progress=False))
    return out


@pytest.fixture
def uint8_batch():
    """A factory of (gt, lq, presence, level): uint8 B x 3 x side x side clean images as the
    shards store them, lq half as bright, labels of a chain of all 7 ops at level 0.5."""
    import numpy as np
    import torch

    def make(count=4, side=32, seed=0):
        rng = np.random.default_rng(seed)
        gt = torch.from_numpy(rng.integers(51, 205, (count, 3, side, side), dtype=np.uint8))
        return gt, gt // 2, np.ones((count, 7), np.float32), np.full((count, 7), 0.5, np.float32)
    return make

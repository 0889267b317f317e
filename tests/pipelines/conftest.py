"""Shared fixtures: small shard folders written without the degradation engine.

`write_fake_dataset` lays out a folder exactly as build-shards does (tars of the members
pipelines.schema declares, index.parquet, manifest.json) with a trivial stand-in degradation,
so reader, pairs and verify tests do not depend on the engine's speed or behaviour.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines import schema
from pipelines.index import index_row, write_index
from pipelines.plan import sample_key, shard_name
from pipelines.files import sha256_file
from pipelines.shardwriter import write_tar_atomically

FAKE_OPS = ("gaussian_noise", "gaussian_blur", "rain")


def pytest_configure(config):
    config.addinivalue_line("markers", "ray: starts a local Ray instance (slow; select with -m ray)")
    config.addinivalue_line("markers", "slow: runs real build subprocesses")


def fake_sample(index: int, size: int) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(index)
    gt = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
    lq = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    ops = [{"name": FAKE_OPS[j], "params": {"strength": float(index + j)}}
           for j in range(index % 3 + 1) if (index + j) % 4 != 3]
    record = {"version": 1, "seed": index, "mode": "prod", "pool": list(FAKE_OPS), "max_length": 3,
              "min_length": 0, "ops": ops, "key": sample_key(index),
              "source": {"path": "fake.png", "sha256": "0" * 64}, "crop": [0, 0, size, size + 8]}
    return record, lq, gt


def write_fake_dataset(folder, shards: int = 3, per_shard: int = 4, size: int = 24, fmt: str = "png"):
    folder.mkdir(parents=True, exist_ok=True)
    rows, entries = [], []
    for s in range(shards):
        members = []
        for index in range(s * per_shard, (s + 1) * per_shard):
            record, lq, gt = fake_sample(index, size)
            values = schema.SAMPLE.values(schema.SampleParts(index, 0, gt, lq, record))
            rows.append(index_row(values, shard_name(s)))
            members += schema.SAMPLE.encode(values, record["key"], fmt)
        info = write_tar_atomically(folder / shard_name(s), members)
        entries.append({"name": info.name, "count": per_shard, "bytes": info.bytes, "sha256": info.sha256})
    write_index(folder / "index.parquet", rows)
    manifest = {"format": schema.FORMAT_NAME, "format_version": schema.FORMAT_VERSION, "shards": entries,
                "totals": {"samples": shards * per_shard, "shards": shards,
                           "bytes": sum(e["bytes"] for e in entries)},
                "index": {"name": "index.parquet", "sha256": sha256_file(folder / "index.parquet")},
                "config": {"format": fmt}, "seed": 0}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def fake_dataset(tmp_path):
    return write_fake_dataset(tmp_path / "fake")


@pytest.fixture
def make_dataset():
    """write_fake_dataset, for tests that need other sizes or formats."""
    return write_fake_dataset


@pytest.fixture
def sample_of():
    """fake_sample(index, size) -> (record, lq, gt), the content the fake datasets hold."""
    return fake_sample


def smooth_image(seed: int, height: int, width: int) -> np.ndarray:
    """A photo-like test source: smooth colour gradients plus a little texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [np.sin(6 * x * rng.uniform(0.5, 2) + 4 * y * rng.uniform(0.5, 2) + rng.uniform(0, 6))
                for _ in range(3)]
    image = (np.stack(channels, axis=2) + 1) * 110 + rng.normal(0, 6, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def smooth():
    """smooth_image(seed, height, width) -> uint8 HxWx3 RGB."""
    return smooth_image


@pytest.fixture
def source_folder(tmp_path):
    """Four small PNG/JPEG sources in nested folders."""
    import cv2

    folder = tmp_path / "src"
    for i, (name, h, w) in enumerate([("a/one.png", 72, 90), ("a/two.jpg", 64, 64),
                                      ("b/three.png", 80, 70), ("four.png", 66, 100)]):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), smooth_image(i, h, w)[..., ::-1])
    return folder

"""--distributor ray on a local 2-CPU Ray instance gives the local distributor's bytes.

Starting Ray costs several seconds; select or skip with `-m ray` / `-m "not ray"`.
"""
from dataclasses import replace

import pytest

from pipelines.build import BuildConfig, build_shards

pytest.importorskip("ray")


@pytest.mark.ray
def test_ray_distributor_matches_local(source_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = BuildConfig(out=str(tmp_path / "local"), src_dir=str(source_folder), count=8, patch=32,
                         shard_size=2, n=3, seed=11, workers=1, progress=False)
    build_shards(config)
    summary = build_shards(replace(config, out=str(tmp_path / "ray"), workers=2, distributor="ray"))
    assert summary.pairs == 8 and summary.shards == 4
    for name in ("shard-000000.tar", "shard-000001.tar", "shard-000002.tar", "shard-000003.tar",
                 "index.parquet"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()

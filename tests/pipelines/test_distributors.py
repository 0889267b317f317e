"""pipelines.distributors: tasks inline, on a local process pool, or on Ray, with the same results.

The Ray test starts a local 2-CPU Ray instance (several seconds); select or skip it with
`-m ray` / `-m "not ray"`.
"""
from dataclasses import replace

import pytest

from pipelines.build import BuildConfig, build_shards
from pipelines.distributors import run_local, run_tasks, tick


def square_with_ticks(value: int) -> int:
    for _ in range(value):
        tick()
    return value * value


def test_inline_and_pool_runs_give_the_same_results_and_count_ticks():
    for workers in (1, 2):
        ticks = []
        results = sorted(run_local(square_with_ticks, range(5), workers, on_ticks=ticks.append))
        assert results == [0, 1, 4, 9, 16]
        assert ticks and ticks[-1] <= 10 and ticks == sorted(ticks)
        if workers == 1:
            assert ticks == list(range(1, 11))  # every tick reported as it happens
    with pytest.raises(ValueError, match="unknown distributor 'dask'"):
        run_tasks(square_with_ticks, [1], 1, distributor="dask")


@pytest.mark.ray
def test_ray_distributor_matches_local(source_folder, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = BuildConfig(out=str(tmp_path / "local"), src_dir=str(source_folder), count=8, patch=32,
                         shard_size=2, n=3, seed=11, workers=1, progress=False)
    build_shards(config)
    summary = build_shards(replace(config, out=str(tmp_path / "ray"), workers=2, distributor="ray"))
    assert summary.pairs == 8 and summary.shards == 4
    for name in ("shard-000000.tar", "shard-000001.tar", "shard-000002.tar", "shard-000003.tar",
                 "index.parquet"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()

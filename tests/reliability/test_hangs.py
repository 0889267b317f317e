"""Item 1: a reader that finds no usable sample stops with one line naming the reason and a
shard, in a real subprocess bounded by a timeout (a regression fails instead of spinning)."""
from __future__ import annotations

import numpy as np
import pytest

from pipelines.stages import (LOGGED_IN_A_ROW, CorruptDataError, Problems,
                              augment_together)

from .conftest import assert_one_line_error, copy_shards, run_cli

TINY = ("--model", "nafnet-tiny", "--steps", "3", "--batch", "2", "--workers", "0",
        "--log-every", "1", "--val-every", "0")


def test_all_corrupt_shards_stop(corrupt_shards, tmp_path):
    result = run_cli("trainer", "pretrain", corrupt_shards, *TINY, "--patch", "16",
                     "--out", tmp_path / "run", timeout=240, real=True)
    last = assert_one_line_error(result, 1, "no usable sample among the last", ".tar:")
    assert str(corrupt_shards) in last
    assert result.stderr.count("skipped") <= LOGGED_IN_A_ROW + 1  # the streak is counted, not shown


def test_patch_larger_than_every_pair_stops(shards, tmp_path):
    early = run_cli("trainer", "pretrain", shards, *TINY, "--patch", "200", "--out",
                    tmp_path / "a", timeout=240, real=True)
    assert_one_line_error(early, 2, "'--patch'", "larger than the 48x48 pairs")
    assert not (tmp_path / "a").exists()
    # without the manifest's crop size, the reader's own guard stops it
    bare = copy_shards(shards, tmp_path / "bare", manifest=lambda m: {"shards": m["shards"]})
    late = run_cli("trainer", "pretrain", bare, *TINY, "--patch", "200", "--out", tmp_path / "b",
                   timeout=240, real=True)
    assert_one_line_error(late, 1, "no usable sample", "smaller than the training patch 200")


def test_the_guard_counts_unusable_samples_in_a_row(caplog):
    problems = Problems(limit=3)
    small = {"shard": "s.tar", "key": "k", "gt": np.zeros((4, 4, 3), np.uint8),
             "lq": np.zeros((4, 4, 3), np.uint8)}
    big = dict(small, gt=np.zeros((9, 9, 3), np.uint8), lq=np.zeros((9, 9, 3), np.uint8))
    rng = np.random.default_rng(0)
    # two bad, one good, two bad: never three in a row
    assert len(list(augment_together([small, small, big, small, small], 8, rng, problems))) == 1
    with pytest.raises(CorruptDataError, match="among the last 3 read; the last: s.tar:k"):
        list(augment_together([small] * 3, 8, rng, problems))
    quiet = Problems(limit=100)
    list(augment_together([small] * 30 + [big], 8, rng, quiet))
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.reader"]
    assert sum("skipped s.tar:k" in line for line in lines[-(LOGGED_IN_A_ROW + 2):]) == LOGGED_IN_A_ROW + 1
    assert lines[-1] == f"skipped {30 - LOGGED_IN_A_ROW - 1} more unusable samples in a row before this usable one"

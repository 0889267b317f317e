"""pipelines.shardtask: one shard made from its plan, with its receipt; sources re-checked."""
import json
import tarfile

import cv2
import pytest

from pipelines.plan import ShardPlan
from pipelines.shardtask import (ChainOptions, ShardTask, SourceChangedError, UsableSource, clear_source_cache,
                                 load_checked, make_shard, sidecar_path)
from pipelines.sources import scan_source


def usable(path) -> UsableSource:
    entry = scan_source(str(path), path.name, 16, 1 << 24)
    return UsableSource(entry["label"], entry["path"], entry["sha256"], entry["height"], entry["width"])


def test_a_task_writes_its_shard_and_a_receipt_with_the_index_rows(source_folder, tmp_path):
    (tmp_path / "out" / ".build").mkdir(parents=True)
    source = usable(source_folder / "four.png")
    task = ShardTask(ShardPlan(1, "shard-000001.tar", 3, 6), str(tmp_path / "out"), seed=5, count=6,
                     patch=16, fmt="npy", chain=ChainOptions(("gaussian_noise", "jpeg"), 2, "prod", 1),
                     n_sources=1, sources=((0, source),))
    result = make_shard(task)
    clear_source_cache()
    with tarfile.open(tmp_path / "out" / "shard-000001.tar") as tar:
        names = tar.getnames()
    assert names == [f"00000000{i}.{suffix}" for i in (3, 4, 5) for suffix in ("json", "lq.npy", "gt.npy")]
    receipt = json.loads(sidecar_path(tmp_path / "out", "shard-000001.tar").read_text())
    assert (receipt["count"], receipt["bytes"], receipt["sha256"]) == (3, result.bytes, result.sha256)
    assert [row["key"] for row in receipt["rows"]] == ["000000003", "000000004", "000000005"]
    assert receipt["rows"] == list(result.rows) and {row["source"] for row in result.rows} == {"four.png"}


def test_a_source_that_changed_since_the_scan_stops_the_build(source_folder):
    path = source_folder / "four.png"
    source = usable(path)
    assert load_checked(source).shape == (66, 100, 3)
    image = cv2.imread(str(path))
    assert cv2.imwrite(str(path), 255 - image)
    with pytest.raises(SourceChangedError, match="changed since the build scanned it"):
        load_checked(source)
    path.write_bytes(b"")
    with pytest.raises(SourceChangedError, match="became unusable"):
        load_checked(source)

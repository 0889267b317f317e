import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from degrade.chain import replay
from pipelines.build import BuildConfig, BuildError, build_shards
from pipelines.pairs import iter_pairs
from pipelines.reader import train_loader
from pipelines.sources import load_image
from pipelines.verify import verify_dataset

REPO = Path(__file__).resolve().parents[2]


def small_config(src, out, **overrides):
    base = BuildConfig(out=str(out), src_dir=str(src), count=10, patch=32, shard_size=3, n=3, seed=7,
                       workers=1, progress=False)
    return replace(base, **overrides)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.tar"))}


def test_build_writes_replayable_pairs_index_stats_and_manifest(source_folder, tmp_path):
    out = tmp_path / "out"
    summary = build_shards(small_config(source_folder, out))
    assert (summary.pairs, summary.shards, summary.made_now) == (10, 4, 10)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["count"] for s in manifest["shards"]] == [3, 3, 3, 1]
    assert manifest["totals"]["samples"] == 10 and manifest["degradation_space"]["size"] == 1 + 7 + 49 + 343
    assert not (out / ".build").exists() and verify_dataset(out).ok
    stats = json.loads((out / "stats.json").read_text())
    assert sum(stats["chain_lengths"].values()) == 10 and stats["sources"]["used"] == 4
    for name, lq, gt in iter_pairs(out):
        record = json.loads(_member(out, name, "json"))
        assert "." not in name and record["key"] == name and len(record["source"]["sha256"]) == 64
        y, x, h, w = record["crop"]
        source = load_image(source_folder / record["source"]["path"])
        assert np.array_equal(gt, source[y:y + h, x:x + w])
        assert np.array_equal(replay(record, gt), lq)  # lossless: stored lq is exactly the engine's


def _member(out, key, suffix):
    import tarfile

    for tar_path in sorted(out.glob("shard-*.tar")):
        with tarfile.open(tar_path) as tar:
            if f"{key}.{suffix}" in tar.getnames():
                return tar.extractfile(f"{key}.{suffix}").read()
    raise KeyError(key)


def test_index_parquet_columns(source_folder, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    build_shards(small_config(source_folder, out))
    table = pq.read_table(out / "index.parquet").to_pylist()
    assert [row["key"] for row in table] == [f"{i:09d}" for i in range(10)]
    for row in table:
        record = json.loads(_member(out, row["key"], "json"))
        assert row["ops"] == [op["name"] for op in record["ops"]] and row["chain_length"] == len(row["ops"])
        assert json.loads(row["params"]) == record["ops"] and row["crop"] == record["crop"]
        assert row["seed"] == int(record["seed"])
        for op in record["ops"]:
            for param, value in op["params"].items():
                if param not in ("seed", "points"):  # a typed column, values of the JSON's type
                    column = row[f"{op['name']}__{param}"]
                    assert value in column and type(value) is type(column[column.index(value)])


def test_index_columns_have_natural_types_and_descriptions(source_folder, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    build_shards(small_config(source_folder, out, count=4, n=2, ops=("jpeg", "gaussian_noise")))
    schema = pq.read_schema(out / "index.parquet")
    expected = {"jpeg__quality": pa.int64(), "rain__amount": pa.int64(), "rain__length": pa.int64(),
                "gaussian_blur__size": pa.int64(), "motion_blur__size": pa.int64(),
                "gaussian_noise__grey": pa.bool_(), "gaussian_blur__family": pa.string(),
                "rain__angle": pa.float64(), "gaussian_noise__sigma": pa.float64()}
    for name, element in expected.items():  # every op has its columns, in the pool or not
        assert schema.field(name).type == pa.list_(element), name
    from pipelines.schema import op_param_columns

    assert [f.name for f in schema if "__" in f.name] == [c.name for c in op_param_columns()]
    assert len(op_param_columns()) >= 18 and all(b"description" in f.metadata for f in schema)
    assert b"unit: 0-255 intensity levels" in schema.field("gaussian_noise__sigma").metadata[b"description"]
    assert "rain__seed" not in schema.names and "motion_blur__points" not in schema.names


def test_sidecars_let_outside_tools_check_and_index_the_shards(source_folder, tmp_path):
    out = tmp_path / "out"
    build_shards(small_config(source_folder, out))
    manifest = json.loads((out / "manifest.json").read_text())
    sums = dict(line.split("  ")[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted([s["name"] for s in manifest["shards"]] + [
        "index.parquet", "stats.json", "record.schema.json", "shardindex.json"])
    assert all(sums[s["name"]] == s["sha256"] for s in manifest["shards"])
    assert sums["index.parquet"] == manifest["index"]["sha256"]
    wids = json.loads((out / "shardindex.json").read_text())
    assert wids["wids_version"] == 1 and [(e["url"], e["nsamples"]) for e in wids["shardlist"]] == [
        (s["name"], s["count"]) for s in manifest["shards"]]
    assert verify_dataset(out).ok
    (out / "SHA256SUMS").write_text((out / "SHA256SUMS").read_text().replace(
        sums["stats.json"], "0" * 64))
    (out / "shardindex.json").write_text(json.dumps(dict(wids, shardlist=wids["shardlist"][:1])))
    problems = verify_dataset(out).problems
    assert any("SHA256SUMS: stats.json does not match" in p for p in problems)
    assert any("shardindex.json: shard sample counts differ" in p for p in problems)
    build_shards(small_config(source_folder, out, seed=8, overwrite=True))
    assert verify_dataset(out).ok


def test_same_bytes_for_any_worker_count(source_folder, tmp_path):
    build_shards(small_config(source_folder, tmp_path / "w1", workers=1))
    build_shards(small_config(source_folder, tmp_path / "w2", workers=2, shard_size=3))
    assert folder_bytes(tmp_path / "w1") == folder_bytes(tmp_path / "w2")
    assert (tmp_path / "w1" / "index.parquet").read_bytes() == (tmp_path / "w2" / "index.parquet").read_bytes()
    build_shards(small_config(source_folder, tmp_path / "s8", seed=8))
    assert folder_bytes(tmp_path / "s8") != folder_bytes(tmp_path / "w1")


def test_rerun_does_nothing_and_other_options_are_refused(source_folder, tmp_path):
    out = tmp_path / "out"
    config = small_config(source_folder, out)
    build_shards(config)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = build_shards(replace(config, workers=2))
    assert again.already_complete and "nothing to do" in again.line()
    with pytest.raises(BuildError, match=r"different options.*count: 10 -> 11.*Overwrite it"):
        build_shards(replace(config, count=11))
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    replaced = build_shards(replace(config, count=11, overwrite=True))
    assert replaced.pairs == 11 and verify_dataset(out).ok


def test_interrupted_build_resumes_to_identical_bytes(source_folder, tmp_path, monkeypatch):
    from pipelines import build as build_module

    reference = tmp_path / "ref"
    build_shards(small_config(source_folder, reference))
    real_make_shard, made = build_module.make_shard, []

    def crash_on_third_shard(task):
        if len(made) == 2:
            (tmp_path / "out" / f".{task.shard.name}.999.partial").write_bytes(b"half a tar")
            raise KeyboardInterrupt
        made.append(task.shard.name)
        return real_make_shard(task)

    out = tmp_path / "out"
    monkeypatch.setattr(build_module, "make_shard", crash_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        build_shards(small_config(source_folder, out))
    assert not (out / "manifest.json").exists() and len(list(out.glob("shard-*.tar"))) == 2
    monkeypatch.setattr(build_module, "make_shard", real_make_shard)
    summary = build_shards(small_config(source_folder, out))
    assert summary.made_now == 4 and summary.pairs == 10
    assert folder_bytes(out) == folder_bytes(reference) and not list(out.glob(".*.partial"))


@pytest.mark.slow
def test_kill_9_mid_build_then_rerun_gives_identical_bytes(source_folder, tmp_path):
    command = [sys.executable, "-c", "from degrade.cli import main; main()", "build-shards", "--src", str(source_folder), "--count", "40",
               "--patch", "48", "--shard-size", "2", "--n", "4", "--seed", "3", "--workers", "1", "--quiet"]
    reference, out = tmp_path / "ref", tmp_path / "out"
    subprocess.run(command + ["--out", str(reference)], check=True, cwd=REPO, capture_output=True)
    process = subprocess.Popen(command + ["--out", str(out)], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None and len(list(out.glob("shard-*.tar"))) < 3:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "manifest.json").exists(), "the build finished before it could be killed"
    assert 3 <= len(list(out.glob("shard-*.tar"))) < 20
    finished = subprocess.run(command + ["--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert folder_bytes(out) == folder_bytes(reference)
    assert (out / "index.parquet").read_bytes() == (reference / "index.parquet").read_bytes()
    again = subprocess.run(command + ["--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert "nothing to do" in again.stdout


def test_problem_sources_are_converted_or_skipped_with_reasons(source_folder, tmp_path):
    from PIL import Image

    bad = source_folder / "bad"
    bad.mkdir()
    (bad / "zero.png").write_bytes(b"")
    (bad / "text.jpg").write_text("not an image")
    (bad / "tiny.png").write_bytes((source_folder / "four.png").read_bytes())
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(bad / "tiny.png")
    grey = Image.fromarray(load_image(source_folder / "four.png")[..., 0])
    grey.save(bad / "grey.png")
    truncated = (source_folder / "a" / "two.jpg").read_bytes()
    (bad / "cut.jpg").write_bytes(truncated[: len(truncated) // 2])
    out = tmp_path / "out"
    summary = build_shards(small_config(source_folder, out, count=12))
    stats = json.loads((out / "stats.json").read_text())["sources"]
    assert stats["found"] == 9 and stats["used"] == 5 and summary.sources_skipped == 4
    reasons = {item["path"]: item["reason"] for item in stats["skipped_files"]}
    assert set(reasons) == {"bad/zero.png", "bad/text.jpg", "bad/tiny.png", "bad/cut.jpg"}
    assert "zero-byte" in reasons["bad/zero.png"] and "too small" in reasons["bad/tiny.png"]
    assert "truncated" in reasons["bad/cut.jpg"]
    assert "too small" in summary.line()


def test_no_usable_or_no_sources_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BuildError, match="no source images found"):
        build_shards(small_config(empty, tmp_path / "out"))
    (empty / "zero.png").write_bytes(b"")
    with pytest.raises(BuildError, match="none of the 1 source images is usable: 1 zero-byte file"):
        build_shards(small_config(empty, tmp_path / "out"))


def test_npy_format_and_whole_images(source_folder, tmp_path):
    out = tmp_path / "out"
    build_shards(small_config(source_folder, out, fmt="npy", patch=0, count=4, shard_size=4))
    shapes = {gt.shape for _, _, gt in iter_pairs(out)}
    assert shapes == {(72, 90, 3), (64, 64, 3), (80, 70, 3), (66, 100, 3)}
    assert verify_dataset(out).ok


def test_built_shards_feed_the_train_loader(source_folder, tmp_path):
    out = tmp_path / "out"
    build_shards(small_config(source_folder, out))
    loader = train_loader(out, batch_size=2, patch=16, workers=0, seed=0, rank=0, world_size=1)
    batch = next(iter(loader))
    assert batch["lq"].shape == (2, 3, 16, 16) and len(loader) == 5


def test_src_list_keeps_its_order_and_labels_relative_to_the_list(source_folder, tmp_path):
    listing = source_folder / "list.txt"
    listing.write_text("four.png\n# skipped comment\nb/three.png\nmissing.png\n")
    out = tmp_path / "out"
    summary = build_shards(replace(small_config(source_folder, out, count=4, shard_size=4), src_dir=None,
                                   src_list=str(listing)))
    assert summary.sources_used == 2 and summary.sources_skipped == 1
    stats = json.loads((out / "stats.json").read_text())["sources"]
    assert stats["skipped_files"] == [{"path": "missing.png", "reason": "missing file"}]
    sources = [json.loads(_member(out, f"{i:09d}", "json"))["source"]["path"] for i in range(4)]
    assert sources == ["four.png", "four.png", "b/three.png", "b/three.png"]


def test_foreign_or_damaged_folders_are_refused_not_overwritten(source_folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "shard-000000.tar").write_bytes(b"someone else's shard")
    (out / "README.md").write_text("keep me")
    with pytest.raises(BuildError, match="unknown or damaged build.*Overwrite it"):
        build_shards(small_config(source_folder, out))
    assert (out / "shard-000000.tar").read_bytes() == b"someone else's shard"
    build_shards(small_config(source_folder, out, overwrite=True))
    assert (out / "README.md").read_text() == "keep me" and verify_dataset(out).ok
    (out / "manifest.json").write_text("{ not json")
    with pytest.raises(BuildError, match="unknown or damaged build"):
        build_shards(small_config(source_folder, out))


RECORDED_BYTES = Path(__file__).parent / "data" / "build_bytes.json"


def fixed_build_digests(tmp_path, smooth_image) -> dict:
    """sha256s of a fixed small build: each tar, each member kind over all samples in key order
    (so a record change shows apart from a pixel change), and the index's content (not its
    bytes: parquet files name the pyarrow version that wrote them)."""
    import hashlib
    import tarfile

    import cv2
    import pyarrow.parquet as pq

    src = tmp_path / "bmp"
    src.mkdir()
    for i, (h, w) in enumerate([(40, 56), (48, 48), (36, 60)]):  # BMP: the same bytes from any encoder
        assert cv2.imwrite(str(src / f"{i}.bmp"), smooth_image(i, h, w))
    out = tmp_path / "fixed"
    build_shards(BuildConfig(out=str(out), src_dir=str(src), count=8, patch=32, shard_size=3, seed=0,
                             fmt="npy", workers=1, progress=False))
    digests, kinds = {}, {}
    for tar_path in sorted(out.glob("shard-*.tar")):
        digests[tar_path.name] = hashlib.sha256(tar_path.read_bytes()).hexdigest()
        with tarfile.open(tar_path) as tar:
            for member in tar.getmembers():
                kind = member.name.split(".", 1)[1]
                kinds.setdefault(kind, hashlib.sha256()).update(tar.extractfile(member).read())
    digests.update({f"members *.{kind}": digest.hexdigest() for kind, digest in sorted(kinds.items())})
    rows = pq.read_table(out / "index.parquet").to_pylist()
    digests["index rows"] = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    return digests


def test_a_fixed_small_build_gives_the_recorded_bytes(tmp_path, smooth):
    """Same seed, same bytes, across changes of the code. After an intended change of the format
    (a record field, a member), record the new digests: UPDATE_BUILD_BYTES=1 pytest -k recorded_bytes."""
    digests = fixed_build_digests(tmp_path, smooth)
    if os.environ.get("UPDATE_BUILD_BYTES"):
        RECORDED_BYTES.parent.mkdir(exist_ok=True)
        RECORDED_BYTES.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RECORDED_BYTES.read_text())
    differing = {name: value for name, value in digests.items() if recorded.get(name) != value}
    assert not differing and set(recorded) == set(digests), (
        f"differs from {RECORDED_BYTES.name}: {sorted(differing) or sorted(set(recorded) ^ set(digests))}")


def test_a_seed_a_json_reader_would_change_is_refused(source_folder, tmp_path):
    with pytest.raises(ValueError, match="seed: must be an integer in 0..2\\^53-1"):
        build_shards(small_config(source_folder, tmp_path / "out", seed=2**53))

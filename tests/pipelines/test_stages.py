"""pipelines.stages: shard streams, tar reading with the corruption policy, shuffling, decoding,
augmentation."""
import logging

import numpy as np
import pytest

from pipelines.stages import (CorruptDataError, Problems, ShardEntry, augment_together, decode_samples,
                              iter_dataset, list_shards, read_tar_samples, shard_stream, shuffle_buffer)


def test_shard_stream_splits_cover_every_shard_equally():
    entries = [ShardEntry(str(i), 1) for i in range(5)]
    streams = [shard_stream(entries, seed=0, split=s, splits=3) for s in range(3)]
    taken = [next(streams[s]).path for _ in range(5) for s in range(3)]
    assert sorted(taken) == sorted([str(i) for i in range(5)] * 3)


def test_shuffle_buffer_is_a_permutation():
    rng = np.random.default_rng(0)
    out = list(shuffle_buffer(({"i": i} for i in range(50)), 8, rng))
    assert sorted(s["i"] for s in out) == list(range(50)) and [s["i"] for s in out] != list(range(50))


def test_corrupt_sample_is_reported_and_skipped_or_raises_when_strict(tmp_path, caplog, make_dataset):
    folder = make_dataset(tmp_path / "d", shards=1, per_shard=4)
    tar = folder / "shard-000000.tar"
    data = bytearray(tar.read_bytes())
    marker = data.find(b"\x89PNG")  # first sample's lq PNG
    data[marker + 40: marker + 200] = b"\x00" * 160
    tar.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="pipelines.reader"):
        keys = [s["key"] for s in iter_dataset(folder)]
    assert keys == ["000000001", "000000002", "000000003"]
    assert "000000000" in caplog.text and "shard-000000.tar" in caplog.text
    with pytest.raises(CorruptDataError, match="000000000"):
        list(iter_dataset(folder, strict=True))


def test_truncated_shard_is_reported_with_the_manifest_count(tmp_path, caplog, make_dataset):
    folder = make_dataset(tmp_path / "d", shards=2, per_shard=4)
    tar = folder / "shard-000001.tar"
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="pipelines.reader"):
        keys = [s["key"] for s in iter_dataset(folder)]
    assert keys[:4] == [f"{i:09d}" for i in range(4)] and len(keys) < 8
    assert "shard-000001.tar" in caplog.text
    with pytest.raises(CorruptDataError, match="shard-000001.tar"):
        list(iter_dataset(folder, strict=True))


def test_corrupt_sample_is_reported_in_order_with_decode_threads(tmp_path, caplog, make_dataset):
    folder = make_dataset(tmp_path / "d", shards=1, per_shard=6)
    tar = folder / "shard-000000.tar"
    data = bytearray(tar.read_bytes())
    marker = data.find(b"\x89PNG", data.find(b"000000002.lq.png"))  # the third sample's lq PNG
    data[marker + 40: marker + 200] = b"\x00" * 160
    tar.write_bytes(bytes(data))
    problems = Problems(collected=[])
    raw = read_tar_samples(list_shards(folder), problems)
    keys = [s["key"] for s in decode_samples(raw, problems, threads=3)]
    assert keys == ["000000000", "000000001", "000000003", "000000004", "000000005"]
    assert len(problems.collected) == 1 and "000000002" in problems.collected[0]
    with pytest.raises(CorruptDataError, match="000000002"):
        strict = Problems(strict=True)
        list(decode_samples(read_tar_samples(list_shards(folder), strict), strict, threads=3))


def test_npy_format_reads_back_identically(tmp_path, make_dataset, sample_of):
    folder = make_dataset(tmp_path / "d", shards=1, per_shard=3, fmt="npy")
    for sample in iter_dataset(folder):
        _, lq, gt = sample_of(int(sample["key"]), 24)
        assert np.array_equal(sample["lq"], lq) and np.array_equal(sample["gt"], gt)


def test_augment_together_reports_images_smaller_than_the_patch(caplog):
    sample = {"key": "k", "shard": "s", "lq": np.zeros((4, 4, 3), np.uint8), "gt": np.zeros((4, 4, 3), np.uint8)}
    with caplog.at_level(logging.WARNING, logger="pipelines.reader"):
        out = list(augment_together([sample], 8, np.random.default_rng(0), Problems()))
    assert out == [] and "smaller than the training patch 8" in caplog.text


def test_each_of_the_eight_symmetries_is_np_rot90_then_a_mirror():
    from pipelines.stages import _view

    image = np.random.default_rng(5).integers(0, 256, (11, 14, 3), dtype=np.uint8)
    for turn in range(4):
        for flip in (False, True):
            expected = np.rot90(image[2:9, 3:12], turn)
            expected = expected[:, ::-1] if flip else expected
            got = _view(image, 2, 3, 7, 9, turn, flip)
            assert np.array_equal(got, expected) and got.flags.c_contiguous, (turn, flip)

import hashlib
import os
import stat

import pytest

from pipelines.build import BuildConfig, build_shards
from pipelines.files import (atomic_path, remove_stale_temporaries, sha256_bytes, sha256_file,
                             write_bytes_atomically, write_files_atomically, write_text_atomically)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_path_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and not target.exists()
        temporary.write_bytes(b"new")
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["a.bin"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomically(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_files_are_0666_minus_the_umask(tmp_path, umask_027):
    write_bytes_atomically(tmp_path / "a", b"x")
    with atomic_path(tmp_path / "b") as temporary:
        temporary.write_bytes(b"y")
    write_files_atomically({tmp_path / "c": b"z"})
    assert [mode(tmp_path / n) for n in "abc"] == [0o640] * 3
    os.umask(0o022)
    write_bytes_atomically(tmp_path / "d", b"x")
    assert mode(tmp_path / "d") == 0o644


def test_several_files_are_renamed_only_when_all_are_written(tmp_path):
    with pytest.raises(TypeError):
        write_files_atomically({tmp_path / "first.png": b"png", tmp_path / "second.json": None})
    assert list(tmp_path.iterdir()) == []
    write_files_atomically({tmp_path / "first.png": b"png", tmp_path / "second.json": b"{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.png", "second.json"]


def test_remove_stale_temporaries_deletes_only_temporaries(tmp_path):
    (tmp_path / ".model.safetensors.1a2b3c4d.partial").write_bytes(b"half")
    (tmp_path / "model.safetensors").write_bytes(b"whole")
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    assert remove_stale_temporaries(tmp_path / "missing") == 0


def test_sha256_of_bytes_and_of_a_file_read_in_chunks(tmp_path):
    data = b"abc" * 100_000
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f", chunk=4096) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_shards_index_manifest_and_stats_respect_the_umask(source_folder, tmp_path, umask_027):
    out = tmp_path / "out"
    build_shards(BuildConfig(out=str(out), src_dir=str(source_folder), count=4, patch=32,
                             shard_size=2, n=2, seed=1, workers=1, progress=False))
    written = sorted(p for p in out.iterdir() if p.is_file())
    assert {p.name for p in written} >= {"index.parquet", "manifest.json", "stats.json", "shard-000000.tar"}
    assert {p.name: mode(p) for p in written} == {p.name: 0o640 for p in written}

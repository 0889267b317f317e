"""pipelines.shardwriter: deterministic tar members, atomic writes."""
import pytest

from pipelines.files import sha256_file
from pipelines.shardwriter import write_tar_atomically


def test_shard_writer_matches_tarfile_byte_for_byte(tmp_path):
    """Our direct writer must produce exactly what tarfile would, so any tar tool reads it."""
    import io
    import os
    import tarfile

    members = [("000000000.json", b'{"key":"000000000"}'), ("000000000.lq.png", os.urandom(150_001)),
               ("000000000.gt.png", os.urandom(512)), ("000000001.json", b""),
               ("d" * 60 + "/" + "k" * 60 + ".json", b"long names take tarfile's own path")]
    written = write_tar_atomically(tmp_path / "a.tar", members)
    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = \
                len(data), 0, 0o644, 0, 0, "", ""
            tar.addfile(info, io.BytesIO(data))
    assert (tmp_path / "a.tar").read_bytes() == reference.getvalue()
    assert written.bytes == len(reference.getvalue()) and written.sha256 == sha256_file(tmp_path / "a.tar")
    assert not list(tmp_path.glob(".*.partial"))


def test_a_shard_whose_members_fail_leaves_the_old_file_and_no_temporary(tmp_path):
    final = tmp_path / "shard-000000.tar"
    write_tar_atomically(final, [("a.json", b"{}")])
    before = final.read_bytes()

    def members_then_failure():
        yield "b.json", b"{}"
        raise RuntimeError("the task died")

    with pytest.raises(RuntimeError):
        write_tar_atomically(final, members_then_failure())
    assert final.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [final.name]

import io
import os
import tarfile

import pytest

from pipelines.tarindex import tar_members


def tar_image(fmt, members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        directory = tarfile.TarInfo("a-dir")
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
    return buffer.getvalue()


MEMBERS = [("000000000.json", b"{}"), ("000000000.lq.png", os.urandom(70_000)), ("empty.txt", b""),
           ("deep/" * 30 + "long-name.gt.png", os.urandom(700)), ("caf\u00e9/\u00fcber.json", b"x" * 513)]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_lists_what_tarfile_lists(fmt):
    members = MEMBERS  # the 166-character name goes into the ustar prefix field
    image = tar_image(fmt, members)
    view = memoryview(image)
    listed = [(name, bytes(view[start:start + size])) for name, start, size in tar_members(view)]
    with tarfile.open(fileobj=io.BytesIO(image)) as tar:
        expected = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isreg()]
    assert listed == expected == members


def test_truncation_and_damage_raise_with_the_offset():
    image = tar_image(tarfile.USTAR_FORMAT, MEMBERS[:3])
    with pytest.raises(tarfile.ReadError, match="runs past the end"):
        list(tar_members(memoryview(image[:30_000])))
    cut_at_member_boundary = image[:512 + 512]  # header + data of the first member, no end blocks
    with pytest.raises(tarfile.ReadError, match="without its end-of-archive blocks"):
        list(tar_members(memoryview(cut_at_member_boundary)))
    damaged = bytearray(image)
    damaged[1024 + 3] ^= 0x55  # inside the second member's header
    with pytest.raises(tarfile.ReadError, match="bad header checksum at byte 1024"):
        list(tar_members(memoryview(bytes(damaged))))
    with pytest.raises(tarfile.ReadError):
        list(tar_members(memoryview(b"not a tar at all" * 64)))


def test_signed_checksums_of_old_writers_are_accepted():
    """Some old tars summed the header as signed chars; a name byte > 127 makes the two differ."""
    image = bytearray(tar_image(tarfile.GNU_FORMAT, [("caf\u00e9.json", b"{}")]))
    header = image[:512]
    assert any(b > 127 for b in header[:100])
    signed = sum(b - 256 if b > 127 else b for b in header[:148] + header[156:]) + 256
    image[148:156] = b"%06o\0 " % signed
    assert [name for name, _, _ in tar_members(memoryview(bytes(image)))] == ["caf\u00e9.json"]
    image[148:156] = b"%06o\0 " % (signed + 1)
    with pytest.raises(tarfile.ReadError, match="bad header checksum at byte 0"):
        list(tar_members(memoryview(bytes(image))))

"""Writing one tar shard atomically and byte-deterministically.

Members get fixed metadata (mtime 0, uid/gid 0, mode 0644, no user names, ustar format), so
the same members in the same order always give the same bytes. The tar is written under a
hidden temporary name, flushed to disk, and renamed only when complete: a shard under its
final name is always whole.
"""
from __future__ import annotations

import functools
import hashlib
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipelines.files import atomic_path


@dataclass(frozen=True)
class ShardFile:
    name: str
    bytes: int
    sha256: str


def member_header(name: str, size: int) -> bytes:
    """The 512-byte ustar header tarfile writes for a regular file with our fixed metadata.

    tarfile builds each header field by field, which is slow per member; we patch name, size
    and checksum into tarfile's own header for a template member, falling back to tarfile for
    names or sizes that do not fit the plain ustar fields."""
    encoded = name.encode("utf-8")
    if len(encoded) > 100 or size >= 8 ** 11:
        return _tarfile_header(name, size)
    block = bytearray(_template_header())
    block[0:100] = encoded.ljust(100, b"\0")
    block[124:136] = b"%011o\0" % size
    block[148:156] = b"        "  # the checksum counts its own field as spaces
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


@functools.lru_cache(maxsize=1)
def _template_header() -> bytes:
    return _tarfile_header("template", 0)


def _tarfile_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")


class _TarOut:
    """Appends members to an open file, hashing as it goes: header, data, zero padding to 512 B;
    the end is two zero blocks padded to tarfile's 10240-byte record, as tarfile.close() writes.
    (tarfile.addfile pushes each member through 16 KB copies.)"""

    def __init__(self, raw):
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def put(self, data: bytes) -> None:
        self.raw.write(data)
        self.digest.update(data)
        self.size += len(data)

    def member(self, name: str, data: bytes) -> None:
        self.put(member_header(name, len(data)))
        self.put(data)
        if len(data) % tarfile.BLOCKSIZE:
            self.put(bytes(tarfile.BLOCKSIZE - len(data) % tarfile.BLOCKSIZE))

    def close(self) -> None:
        end = self.size + 2 * tarfile.BLOCKSIZE
        self.put(bytes(2 * tarfile.BLOCKSIZE + (-end) % tarfile.RECORDSIZE))


def write_tar_atomically(final: Path, members: Iterable[tuple[str, bytes]]) -> ShardFile:
    """Write (name, bytes) members to `final` via a temporary file; returns size and sha256."""
    final = Path(final)
    with atomic_path(final) as temporary, open(temporary, "wb") as raw:
        tar = _TarOut(raw)
        for name, data in members:
            tar.member(name, data)
        tar.close()
    return ShardFile(final.name, tar.size, tar.digest.hexdigest())

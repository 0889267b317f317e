"""Writing one tar shard atomically and byte-deterministically.

Members get fixed metadata (mtime 0, uid/gid 0, mode 0644, no user names, ustar format), so
the same members in the same order always give the same bytes. The tar is written under a
hidden temporary name, flushed to disk, and renamed only when complete: a shard under its
final name is always whole.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShardFile:
    name: str
    bytes: int
    sha256: str


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what passes through to the real file."""

    def __init__(self, raw):
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def writable(self):
        return True

    def tell(self):
        return self.size

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)


def temporary_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.partial")


def tar_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def write_tar_atomically(final: Path, members: Iterable[tuple[str, bytes]]) -> ShardFile:
    """Write (name, bytes) members to `final` via a temporary file; returns size and sha256."""
    final = Path(final)
    temp = temporary_path(final)
    try:
        with open(temp, "wb") as raw:
            hashing = _HashingWriter(raw)
            with tarfile.open(fileobj=hashing, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                for name, data in members:
                    tar.addfile(*tar_member(name, data))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return ShardFile(final.name, hashing.size, hashing.digest.hexdigest())


def write_bytes_atomically(final: Path, data: bytes) -> None:
    """Small files (JSON, parquet): temp name, fsync, rename."""
    final = Path(final)
    temp = temporary_path(final)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()

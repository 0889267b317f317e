"""Listing the regular files of a tar image in memory: (name, data offset, size), no copies.

A small reader for what shards and common tools write (ustar, GNU long names, pax path/size
records), much faster per member than tarfile, whose field-by-field header parsing otherwise
costs more than decoding an .npy pair. Corruption raises tarfile.ReadError naming
the byte offset: bad header checksums, members running past the end, and an archive that
stops without its end-of-archive blocks (a cut at a member boundary that tarfile and
webdataset read silently as a shorter shard).
"""
from __future__ import annotations

import tarfile
from collections.abc import Iterator

BLOCK = tarfile.BLOCKSIZE
ZERO_BLOCK = bytes(BLOCK)
REGULAR = (b"0", b"\0", b"7")


def octal_field(field: bytes, what: str, position: int) -> int:
    if field[:1] in (b"\x80", b"\xff"):
        raise tarfile.ReadError(f"{what} at byte {position} uses base-256, which shards never need")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise tarfile.ReadError(f"{what} at byte {position} is not an octal number: {text!r}") from None


def check_header(header: bytes, position: int) -> None:
    """The checksum counts the 8 checksum bytes as spaces; old writers summed signed chars."""
    stored = octal_field(header[148:156], "header checksum", position)
    unsigned = sum(header) - sum(header[148:156]) + 256
    if stored == unsigned:
        return
    signed = unsigned - 256 * sum(b > 127 for b in header[:148] + header[156:])  # rare: slow is fine
    if stored != signed:
        raise tarfile.ReadError(f"bad header checksum at byte {position} (not a tar, or damaged)")


def header_name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0]
    if header[257:265] == b"ustar\x0000":  # POSIX ustar: long names are split into a prefix
        prefix = header[345:500].split(b"\0", 1)[0]
        name = prefix + b"/" + name if prefix else name
    return name.decode("utf-8", "surrogateescape")


def pax_records(data: bytes) -> dict[str, str]:
    records, position = {}, 0
    while position < len(data) and data[position:position + 1] != b"\0":
        space = data.index(b" ", position)
        length = int(data[position:space])
        key, _, value = data[space + 1:position + length - 1].partition(b"=")
        records[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


def tar_members(contents: memoryview) -> Iterator[tuple[str, int, int]]:
    """(name, data offset, data size) for each regular file, in archive order."""
    position, end, pending = 0, len(contents), {}
    while True:
        if position + BLOCK > end:
            raise tarfile.ReadError(f"archive stops at byte {end} without its end-of-archive blocks "
                                    "(truncated)")
        header = bytes(contents[position:position + BLOCK])
        if header == ZERO_BLOCK:
            return
        check_header(header, position)
        kind, start = header[156:157], position + BLOCK
        size = octal_field(header[124:136], "size", position)
        if "size" in pending and kind in REGULAR:
            size = int(pending["size"])
        if start + size > end:
            raise tarfile.ReadError(f"member at byte {position} runs past the end of the file (truncated)")
        position = start + -(-size // BLOCK) * BLOCK
        data = lambda: bytes(contents[start:start + size])  # noqa: E731 - only for metadata members
        if kind == b"L":
            pending["path"] = data().rstrip(b"\0").decode("utf-8", "surrogateescape")
        elif kind == b"x":
            pending.update(pax_records(data()))
        elif kind in (b"g", b"K"):
            continue
        else:
            name = pending.get("path") or header_name(header)
            pending = {}
            if kind in REGULAR:
                yield name, start, size

"""Files beside the shards that let other tools check and read a dataset without our code.

- SHA256SUMS: coreutils format, so `sha256sum -c SHA256SUMS` verifies every shard and the index
  (tarfile, webdataset and GNU tar read a truncated shard as a shorter one, without an error).
- shardindex.json: webdataset's `wids` shard index (each shard's sample count), for random
  access by sample index with `wids.ShardListDataset`.
- record.schema.json: the JSON Schema of KEY.json, the copy degrade ships.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipelines.files import sha256_file, write_bytes_atomically

CHECKSUMS_NAME = "SHA256SUMS"
WIDS_INDEX_NAME = "shardindex.json"
SCHEMA_NAME = "record.schema.json"
SIDECARS = {"checksums": CHECKSUMS_NAME, "wids_index": WIDS_INDEX_NAME,
            "record_schema": SCHEMA_NAME}


def checksums_text(files: Iterable[tuple[str, str]]) -> str:
    """`<sha256>  <name>` lines (sha256sum's own output), in the order given."""
    return "".join(f"{digest}  {name}\n" for name, digest in files)


def parse_checksums(text: str) -> dict[str, str]:
    """{name: sha256} from SHA256SUMS text; ValueError naming the first malformed line."""
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not name:
            raise ValueError(f"line {number} is not '<sha256>  <file>': {line[:80]!r}")
        entries[name.lstrip("*")] = digest
    return entries


def wids_index(shards: Sequence[dict], name: str) -> dict:
    """wids' shard index: shard urls relative to this file, with sample counts and sizes."""
    return {"__kind__": "wids-shard-index-v1", "wids_version": 1, "name": name,
            "shardlist": [{"url": s["name"], "nsamples": s["count"], "filesize": s["bytes"]}
                          for s in shards]}


def write_sidecars(out: Path, shards: Sequence[dict], also_checked: Sequence[str]) -> dict:
    """Write the schema, the wids index and then SHA256SUMS over the shards, `also_checked`
    (files already in `out`) and those two. Returns the manifest's `sidecars` entry."""
    from degrade.record_schema import schema_text

    write_bytes_atomically(out / SCHEMA_NAME, schema_text().encode())
    index = wids_index(shards, out.resolve().name)
    write_bytes_atomically(out / WIDS_INDEX_NAME, (json.dumps(index, indent=2) + "\n").encode())
    files = [(s["name"], s["sha256"]) for s in shards]
    files += [(name, sha256_file(out / name)) for name in (*also_checked, SCHEMA_NAME, WIDS_INDEX_NAME)]
    write_bytes_atomically(out / CHECKSUMS_NAME, checksums_text(files).encode())
    return dict(SIDECARS)

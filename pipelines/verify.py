"""verify_dataset: re-check a finished shard folder against its manifest and index.

Checks, each problem reported as one line naming the file (and key): manifest readable; every
listed shard present with the recorded byte size and sha256; no unlisted *.tar and no leftover
temporary files; every sample complete (every member pipelines.schema declares: KEY.json,
KEY.lq.*, KEY.gt.*), decodable, its images of one size, and its JSON naming its own key;
per-shard sample counts; totals; index.parquet
matching its recorded sha256 and holding exactly the samples in the shards, with the same
shard and ops for each; the sidecar files the manifest lists (SHA256SUMS agreeing with the
manifest and with the files, the wids shard index with the shard counts).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import schema
from pipelines.files import TEMPORARY_GLOB, sha256_file
from pipelines.schema import MANIFEST_NAME
from pipelines.stages import (CorruptDataError, Problems, ShardEntry, check_shard_name,
                              read_tar_samples)


@dataclass
class VerifyReport:
    folder: str
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    samples: int = 0
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self, limit: int = 50) -> str:
        head = (f"{self.folder}: OK, {self.samples} samples in {self.shards} shards "
                f"({self.bytes / 1e6:.1f} MB) verified" if self.ok else
                f"{self.folder}: {len(self.problems)} problem(s) found "
                f"({self.samples} samples in {self.shards} shards read)")
        lines = [head] + [f"  - {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def verify_dataset(folder: str | Path, decode: bool = True,
                   on_shard: Callable[[str], None] | None = None) -> VerifyReport:
    folder = Path(folder)
    report = VerifyReport(str(folder))
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        listed = manifest["shards"]
    except FileNotFoundError:
        report.problems.append(f"{folder / MANIFEST_NAME}: missing (unfinished build, or not a shard folder)")
        return report
    except (ValueError, KeyError, TypeError) as error:
        report.problems.append(f"{folder / MANIFEST_NAME}: unreadable ({error})")
        return report
    listed = plain_named(folder, listed, report)
    check_files(folder, listed, report)
    found = {}
    for shard in listed:
        if (folder / shard["name"]).is_file():
            found.update(check_samples(folder, shard, decode, report))
        if on_shard:
            on_shard(shard["name"])
    check_totals(manifest, report)
    check_index(folder, manifest, found, report)
    check_sidecars(folder, manifest, report)
    return report


def plain_named(folder: Path, listed: list[dict], report: VerifyReport) -> list[dict]:
    """The listed shards whose names are plain file names inside the folder; the others are
    reported and never opened."""
    kept = []
    for shard in listed:
        try:
            check_shard_name(folder / MANIFEST_NAME, shard.get("name"))
        except CorruptDataError as error:
            report.problems.append(str(error))
            continue
        kept.append(shard)
    return kept


def check_files(folder: Path, listed: list[dict], report: VerifyReport) -> None:
    names = {s["name"] for s in listed}
    for shard in listed:
        path = folder / shard["name"]
        if not path.is_file():
            report.problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        report.shards += 1
        report.bytes += size
        if size != shard["bytes"]:
            report.problems.append(f"{path}: {size} bytes, manifest says {shard['bytes']}")
        elif sha256_file(path) != shard["sha256"]:
            report.problems.append(f"{path}: sha256 differs from the manifest")
    for path in sorted(folder.glob("*.tar")):
        if path.name not in names:
            report.problems.append(f"{path}: not listed in the manifest")
    for path in sorted(folder.glob(TEMPORARY_GLOB)):
        report.problems.append(f"{path}: leftover temporary file of an interrupted write")


def check_samples(folder: Path, shard: dict, decode: bool, report: VerifyReport) -> dict[str, tuple]:
    """{key: (shard name, ops)} for the shard's samples; problems appended to the report."""
    collected: list[str] = []
    entry = ShardEntry(str(folder / shard["name"]), int(shard["count"]))
    found = {}
    for raw in read_tar_samples([entry], Problems(collected=collected)):
        where = f"{entry.path}:{raw['__key__']}"
        report.samples += 1
        try:
            record = check_sample(raw, decode)
            found[raw["__key__"]] = (shard["name"], [op["name"] for op in record["ops"]])
        except Exception as error:  # noqa: BLE001 - every failure becomes a report line
            collected.append(f"{where}: {type(error).__name__}: {error}")
    report.problems.extend(collected)
    return found


def check_sample(raw: dict, decode: bool) -> dict:
    """The sample's record, after checking every member is there (and decodes, if `decode`)."""
    absent = schema.SAMPLE.missing(raw, every=True)
    if absent:
        raise KeyError(f"missing member(s) {', '.join(absent)}")
    record = schema.SAMPLE.decode(raw, images=decode)[schema.SAMPLE.record.field]
    if record.get("key") != raw["__key__"]:
        raise ValueError(f"KEY.json names key {record.get('key')!r}")
    return record


def check_totals(manifest: dict, report: VerifyReport) -> None:
    totals, shards = manifest.get("totals", {}), manifest["shards"]
    for name, value in (("samples", sum(s["count"] for s in shards)), ("shards", len(shards)),
                        ("bytes", sum(s["bytes"] for s in shards))):
        if totals.get(name) != value:
            report.problems.append(f"manifest.json: totals.{name} is {totals.get(name)}, shards add up to {value}")


def check_index(folder: Path, manifest: dict, found: dict[str, tuple], report: VerifyReport) -> None:
    from pipelines.index import INDEX_NAME, read_index

    path = folder / INDEX_NAME
    if not path.is_file():
        report.problems.append(f"{path}: missing")
        return
    recorded = manifest.get("index", {}).get("sha256")
    if recorded and sha256_file(path) != recorded:
        report.problems.append(f"{path}: sha256 differs from the manifest")
    try:
        table = read_index(folder, columns=["key", "shard", "ops"]).to_pydict()
    except Exception as error:  # noqa: BLE001
        report.problems.append(f"{path}: unreadable ({error})")
        return
    indexed = {k: (s, o) for k, s, o in zip(table["key"], table["shard"], table["ops"])}
    missing, extra = sorted(set(found) - set(indexed)), sorted(set(indexed) - set(found))
    if missing:
        report.problems.append(f"{path}: {len(missing)} sample(s) in shards but not indexed, e.g. {missing[:3]}")
    if extra:
        report.problems.append(f"{path}: {len(extra)} indexed sample(s) not in any readable shard, e.g. {extra[:3]}")
    differing = sorted(k for k in set(found) & set(indexed) if tuple(found[k][1]) != tuple(indexed[k][1])
                       or found[k][0] != indexed[k][0])
    if differing:
        report.problems.append(f"{path}: shard or ops disagree with KEY.json for {len(differing)} "
                               f"sample(s), e.g. {differing[:3]}")


def check_sidecars(folder: Path, manifest: dict, report: VerifyReport) -> None:
    """SHA256SUMS and shardindex.json (datasets built before they existed list none)."""
    listed = manifest.get("sidecars") or {}
    present = {}
    for role, name in listed.items():
        if (folder / name).is_file():
            present[role] = folder / name
        else:
            report.problems.append(f"{folder / name}: missing")
    if "checksums" in present:
        check_checksums(folder, present["checksums"], manifest, report)
    if "wids_index" in present:
        check_wids_index(present["wids_index"], manifest, report)


def check_checksums(folder: Path, path: Path, manifest: dict, report: VerifyReport) -> None:
    from pipelines.sidecars import parse_checksums

    try:
        sums = parse_checksums(path.read_text())
    except (OSError, ValueError) as error:
        report.problems.append(f"{path}: unreadable ({error})")
        return
    known = {s["name"]: s["sha256"] for s in manifest["shards"]}  # the files already checked
    for name, digest in sums.items():
        other = folder / name
        actual = known.get(name) or (other.is_file() and "/" not in name and sha256_file(other))
        if actual != digest:
            report.problems.append(f"{path}: {name} does not match its checksum")
    for name in sorted(set(known) - set(sums)):
        report.problems.append(f"{path}: no checksum for {name}")


def check_wids_index(path: Path, manifest: dict, report: VerifyReport) -> None:
    try:
        counts = {s["url"]: s["nsamples"] for s in json.loads(path.read_text())["shardlist"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        report.problems.append(f"{path}: unreadable ({error})")
        return
    if counts != {s["name"]: s["count"] for s in manifest["shards"]}:
        report.problems.append(f"{path}: shard sample counts differ from the manifest")

"""One shard task: crop, degrade and encode its planned samples, then write the tar and its record.

A task carries everything it needs (plan, options, the sources it touches) and nothing about
the process that runs it, so a local pool, Ray, or a re-run after a crash all write the same
bytes. Completion order on disk: temporary tar -> temporary sidecar -> rename tar -> rename
sidecar. A shard counts as done only when its sidecar (`.build/<shard>.json`) exists and the
tar beside it has the recorded size.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from degrade.errors import KitError
from pipelines import schema
from pipelines.distributors import tick
from pipelines.files import sha256_bytes, write_bytes_atomically
from pipelines.index import index_row
from pipelines.plan import ShardPlan, SourceShape, plan_sample
from pipelines.shardwriter import write_tar_atomically
from pipelines.sources import SourceError, decode_image, read_source_bytes

WORK_DIR_NAME = ".build"


class SourceChangedError(KitError, RuntimeError):
    """A source file no longer matches what the build's scan recorded."""


@dataclass(frozen=True)
class UsableSource:
    label: str     # machine-independent name stored in records
    path: str      # where to read it on this machine
    sha256: str
    height: int
    width: int


@dataclass(frozen=True)
class ChainOptions:
    pool: tuple[str, ...]
    max_length: int
    mode: str
    min_length: int


@dataclass(frozen=True)
class ShardTask:
    shard: ShardPlan
    out_dir: str
    seed: int
    count: int
    patch: int
    fmt: str
    chain: ChainOptions
    n_sources: int                                     # usable sources in the whole build
    sources: tuple[tuple[int, UsableSource], ...]      # (usable index, source) this shard reads


@dataclass(frozen=True)
class ShardResult:
    name: str
    count: int
    bytes: int
    sha256: str
    rows: tuple[dict, ...]


def sidecar_path(out_dir: Path, shard_name: str) -> Path:
    return Path(out_dir) / WORK_DIR_NAME / f"{shard_name}.json"


def make_shard(task: ShardTask) -> ShardResult:
    out_dir = Path(task.out_dir)
    rows: list[dict] = []
    members = _sample_members(task, rows)
    shard_file = write_tar_atomically(out_dir / task.shard.name, members)
    result = ShardResult(task.shard.name, len(rows), shard_file.bytes, shard_file.sha256, tuple(rows))
    sidecar = {"name": result.name, "count": result.count, "bytes": result.bytes,
               "sha256": result.sha256, "rows": rows}
    write_bytes_atomically(sidecar_path(out_dir, task.shard.name),
                           json.dumps(sidecar, sort_keys=True).encode())
    return result


def _sample_members(task: ShardTask, rows: list[dict]):
    """Yields tar members sample by sample (the members of pipelines.schema), filling `rows`."""
    from degrade.chain import degrade

    cache = _SourceCache(dict(task.sources))
    shapes = {i: SourceShape(source.height, source.width) for i, source in task.sources}
    for index in range(task.shard.first, task.shard.stop):
        plan = plan_sample(task.seed, index, task.count, shapes, task.patch, task.n_sources)
        source = cache.info(plan.source)
        y, x, h, w = plan.crop
        clean = np.ascontiguousarray(cache.image(plan.source)[y:y + h, x:x + w])
        options = task.chain
        degraded, record = degrade(clean, plan.chain_seed, list(options.pool), options.max_length,
                                   options.mode, options.min_length)
        record = dict(record, key=plan.key, source={"path": source.label, "sha256": source.sha256},
                      crop=list(plan.crop))
        values = schema.SAMPLE.values(schema.SampleParts(index, task.seed, clean, degraded, record))
        rows.append(index_row(values, task.shard.name))
        yield from schema.SAMPLE.encode(values, plan.key, task.fmt)
        tick()


class _SourceCache:
    """Keeps the most recently decoded source: a shard's samples come in runs per source, and a
    worker that makes the next shard usually starts with the source the last one ended on."""

    last: tuple[UsableSource, np.ndarray] | None = None  # shared by the tasks of one process

    def __init__(self, sources: dict[int, UsableSource]):
        self.sources = sources

    def info(self, index: int) -> UsableSource:
        return self.sources[index]

    def image(self, index: int) -> np.ndarray:
        source = self.sources[index]
        if _SourceCache.last is None or _SourceCache.last[0] != source:
            _SourceCache.last = None  # free the old image before decoding the next
            _SourceCache.last = (source, load_checked(source))
        return _SourceCache.last[1]



def clear_source_cache() -> None:
    """Drop the decoded source kept between tasks (an inline build runs them in the caller)."""
    _SourceCache.last = None


def load_checked(source: UsableSource) -> np.ndarray:
    try:
        data = read_source_bytes(Path(source.path))
        if sha256_bytes(data) != source.sha256:
            raise SourceChangedError(f"source {source.path} changed since the build scanned it; "
                                     "overwrite the build to rebuild it from the current files")
        image = decode_image(data, max_pixels=source.height * source.width)
    except SourceError as error:
        raise SourceChangedError(f"source {source.path} became unusable during the build: {error}") from None
    if image.shape[:2] != (source.height, source.width):
        raise SourceChangedError(f"source {source.path} decodes to a different size than scanned")
    return image

"""Streaming a shard folder into torch for training: `train_loader` and its epoch plumbing.

The stages (shard resampling, tar reading with the corruption policy, shuffle buffer, decode,
crops/flips of the image members) live in pipelines.stages and collation in pipelines.batching;
this module gives each distributed rank and DataLoader worker its own split of the shard
stream (how: pipelines.stages' docstring), seeds its stages, and cuts the endless stream
into epochs.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.utils.data

from pipelines import schema
from pipelines.batching import SharedRing, batches, keep_batch, own_copy, to_float
from pipelines.stages import (MAX_UNUSABLE_IN_A_ROW, CorruptDataError, Problems, ShardEntry,
                              augment_together, decode_samples, filter_shards, list_shards,
                              read_tar_samples, sample_total, shard_stream, shuffle_buffer)

__all__ = ["train_loader", "TrainLoader", "TrainStream", "CorruptDataError", "distributed_rank_world"]


def distributed_rank_world(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """Explicit values, else torch.distributed when initialised, else RANK / WORLD_SIZE, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        detected = dist.get_rank(), dist.get_world_size()
    else:
        detected = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    rank = detected[0] if rank is None else rank
    world_size = detected[1] if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1} (world size {world_size})")
    return rank, world_size


class TrainStream(torch.utils.data.IterableDataset):
    """Endless batches for one rank; each DataLoader worker takes its own split of the shard
    stream (split rank * workers + worker of world_size * workers)."""

    def __init__(self, entries: list[ShardEntry], batch_size: int, patch: int, seed: int, rank: int,
                 world_size: int, shuffle: int = 1000, strict: bool = False, flips: bool = True,
                 threads: int = 0, reuse_ahead: int | None = None, batch_map=None):
        """batch_map: see train_loader. reuse_ahead: in DataLoader workers, write batches into a SharedRing for a loader that
        runs at most this many batches ahead and copies each batch out before the next (as
        TrainLoader does); None allocates fresh shared memory per batch."""
        super().__init__()
        self.entries, self.batch_size, self.patch, self.seed = entries, batch_size, patch, seed
        self.rank, self.world_size, self.shuffle = rank, world_size, shuffle
        self.problems = Problems(strict, limit=MAX_UNUSABLE_IN_A_ROW)
        self.flips, self.threads = flips, threads
        self.reuse_ahead = reuse_ahead
        self.batch_map = batch_map

    def split(self) -> tuple[int, int]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return self.rank * workers + worker, self.world_size * workers

    def __iter__(self) -> Iterator[dict]:
        import webdataset as wds

        split, splits = self.split()
        in_worker = torch.utils.data.get_worker_info() is not None
        ring = SharedRing(self.reuse_ahead) if in_worker and self.reuse_ahead is not None else None
        # One generator per stage: decode threads read ahead of the augmentation, so a shared
        # generator's draws would interleave differently with every thread count.
        shuffle_rng, augment_rng = (np.random.default_rng([self.seed, split, splits, stage])
                                    for stage in (0, 1))
        pipeline = wds.DataPipeline(
            lambda: shard_stream(self.entries, self.seed, split, splits),
            lambda src: read_tar_samples(src, self.problems, max_empty=len(self.entries) + splits),
            lambda src: shuffle_buffer(src, self.shuffle, shuffle_rng),
            lambda src: decode_samples(src, self.problems, self.threads),
            lambda src: augment_together(src, self.patch, augment_rng, self.problems, self.flips),
            lambda src: batches(src, self.batch_size, ring),
        )
        return iter(pipeline) if self.batch_map is None else map(self.batch_map, pipeline)


class TrainLoader:
    """`for batch in loader` runs one epoch of `len(loader)` batches; the stream continues across
    epochs (DataLoader workers persist), so every epoch sees new data and no rank stops early.
    Batches arrive as uint8 from the stream and are scaled to float32 here unless as_uint8;
    either way a batch from a worker is copied out of its shared buffer before the next one is
    asked for, so the worker can reuse that buffer (SharedRing)."""

    def __init__(self, loader, epoch_length: int, as_uint8: bool = False):
        self.loader, self.epoch_length, self.as_uint8 = loader, epoch_length, as_uint8
        self._iterator = None
        self._copy_out = loader.num_workers > 0

    def __len__(self) -> int:
        return self.epoch_length

    def __iter__(self) -> Iterator[dict]:
        if self._iterator is None:
            self._iterator = iter(self.loader)
        images = [member.field for member in schema.SAMPLE.images]
        for _ in range(self.epoch_length):
            batch = next(self._iterator)
            if not self.as_uint8:
                batch = dict(batch, **{field: to_float(batch[field]) for field in images})
            elif self._copy_out:
                batch = dict(batch, **{field: own_copy(batch[field]) for field in images})
            yield batch


def train_loader(shard_dir: str | Path, batch_size: int, patch: int, workers: int, seed: int,
                 ops_filter=None, epoch_length: int | None = None, *, rank: int | None = None,
                 world_size: int | None = None, shuffle_buffer_size: int = 1000, strict: bool = False,
                 flips: bool = True, as_uint8: bool = False, threads: int = 0,
                 worker_start: str | None = None, batch_map=None) -> TrainLoader:
    """Batches {"lq", "gt": float32 Bx3xHxW in [0, 1], "key": [str], "record": [dict]} for training
    (a tensor for every image member pipelines.schema declares).

    ops_filter: None, an OpsFilter, a string like "contains=rain" or "only=gaussian_blur,motion_blur;
    length=1", or a callable(ops list) -> bool (needs index.parquet). epoch_length: batches per
    epoch per rank; default ceil(selected samples / (batch_size * world_size)). rank/world_size:
    default from torch.distributed, else RANK/WORLD_SIZE. patch 0 keeps whole images (then
    batch_size must be 1 unless all images share a size). as_uint8: keep "lq"/"gt" as uint8
    Bx3xHxW (0-255), e.g. to move a quarter of the bytes to the GPU and scale there.
    threads: decode that many samples at once on a thread pool in each loader process (0: in
    line). Threads share one process, so they cost no inter-process copies: on few cores
    `workers=0, threads=N` reads the most pairs per CPU second; workers keep the decoding's
    Python work off the training loop's interpreter lock. The batches do not depend on it.
    worker_start: how worker processes start ("fork", "forkserver", "spawn"); default: fork,
    except "forkserver" once CUDA is initialised (forking a process that runs CUDA's threads
    can deadlock the child).
    batch_map: a picklable callable(batch) -> batch run on each batch in the loader process (a
    worker when workers > 0), for per-batch work that would otherwise hold up the training
    loop's process, such as labels derived from the records. It must not change the images'
    uint8 buffers in place (workers reuse them).
    Memory: each worker's shuffle buffer holds `shuffle_buffer_size` encoded samples (about
    270 KB each for 256x256 PNG pairs, 400 KB for npy).
    """
    if worker_start not in (None, "fork", "forkserver", "spawn"):
        raise ValueError(f"worker_start must be fork, forkserver or spawn, got {worker_start!r}")
    if batch_size < 1 or patch < 0 or workers < 0 or threads < 0:
        raise ValueError(f"batch_size >= 1, patch >= 0, workers >= 0, threads >= 0 required; got "
                         f"{batch_size}, {patch}, {workers}, {threads}")
    rank, world_size = distributed_rank_world(rank, world_size)
    entries = filter_shards(shard_dir, list_shards(shard_dir), ops_filter)
    samples = sample_total(entries)
    if epoch_length is None:
        if samples is None:
            raise ValueError(f"{shard_dir}: no manifest.json to count its samples, so give "
                             "epoch_length explicitly")
        epoch_length = max(1, math.ceil(samples / (batch_size * world_size)))
    prefetch = 4 if workers > 0 else None
    stream = TrainStream(entries, batch_size, patch, seed, rank, world_size, shuffle_buffer_size, strict, flips,
                         threads, reuse_ahead=prefetch, batch_map=batch_map)
    if worker_start is None and workers > 0 and torch.cuda.is_initialized():
        worker_start = "forkserver"
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers, collate_fn=keep_batch,
                                         persistent_workers=workers > 0, prefetch_factor=prefetch,
                                         multiprocessing_context=worker_start if workers > 0 else None)
    return TrainLoader(loader, epoch_length, as_uint8)

"""The reader's generator stages (no torch): shard lists, tar reading, shuffling, decoding, crops.

Each stage is a generator over the previous one (webdataset style); pipelines.reader composes
them in a webdataset DataPipeline, ending in pipelines.batching.batches, and feeds a torch
DataLoader:

    shard_stream -> read_tar_samples -> shuffle_buffer -> decode_samples -> augment_together
    (-> pipelines.batching.batches)

A sample's members, their codecs and which of them are cropped and flipped together come from
pipelines.schema; decode_samples yields {"key", "shard"} plus one entry per member ("lq",
"gt": uint8 HxWx3 RGB, "record": the KEY.json dict).

Splitting: the stream of shards is an endless sequence of seeded permutations of the shard
list; split s of S (S = world_size * DataLoader workers) takes every S-th entry starting at s.
Every split therefore gets an endless, equally long supply whatever the number of shards, so
no rank runs dry and hangs the others, and each consecutive group of S*len(shards) entries
covers every shard the same number of times. All randomness comes from (seed, split), so a
run is reproducible for a fixed seed, worker count and world size.

Corruption policy (strict=False, the default): a sample or shard that cannot be read is
reported once per occurrence on the `pipelines.reader` logger (WARNING, which Python prints
to stderr even without logging set up), naming the shard, the key and the reason, and
skipped: a bad sample is dropped, a broken tar is abandoned at the break, and a shard holding
fewer samples than the manifest says is reported at its end. With strict=True the first
problem raises CorruptDataError instead. If a split reads more shards in a row than the list
holds (plus the number of splits) without finding one sample in them, CorruptDataError is
raised in either mode rather than spinning forever.
"""
from __future__ import annotations

import json
import logging
import mmap
import tarfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from degrade.crops import random_window
from degrade.errors import KitError
from pipelines import schema
from pipelines.codecs import CodecError
from pipelines.schema import MANIFEST_NAME
from pipelines.tarindex import tar_members

LOG = logging.getLogger("pipelines.reader")  # one logger name for the whole reader
WORK_DIR_NAME = ".build"  # an unfinished build's work folder (pipelines.shardtask)


class CorruptDataError(KitError, RuntimeError):
    """A shard or sample that cannot be read (raised with strict=True, or when nothing is readable)."""


@dataclass(frozen=True)
class ShardEntry:
    path: str
    count: int | None                 # from the manifest; None when the folder has no manifest
    keys: frozenset[str] | None = None  # only these samples (an ops filter); None = all


# A reader that has rejected this many samples in a row (undecodable, incomplete, smaller than
# the patch) stops instead of spinning: a dataset that bad needs fixing, not skipping.
MAX_UNUSABLE_IN_A_ROW = 1000
# Problems in a row logged one by one; a longer streak is summed up when it ends (or stops the
# reader), so a bad patch of data cannot bury everything else on the terminal.
LOGGED_IN_A_ROW = 10


@dataclass
class Problems:
    """The reader's error policy, threaded through every stage.

    strict: raise CorruptDataError at the first problem. collected: a list to append each
    problem's message to instead of logging it (verify uses this to build its report).
    limit: raise CorruptDataError, naming the last problem, once this many problems come with no
    usable sample between them (`usable()` marks one); None never stops.
    """

    strict: bool = False
    collected: list | None = None
    limit: int | None = None
    unusable_in_a_row: int = 0

    def report(self, where: str, reason: str) -> None:
        message = f"{where}: {reason}"
        if self.strict:
            raise CorruptDataError(message)
        self.unusable_in_a_row += 1
        if self.collected is not None:
            self.collected.append(message)
        elif self.unusable_in_a_row <= LOGGED_IN_A_ROW:
            LOG.warning("skipped %s", message)
        elif self.unusable_in_a_row == LOGGED_IN_A_ROW + 1:
            LOG.warning("skipped %s (further problems in a row are counted, not shown)", message)
        if self.limit is not None and self.unusable_in_a_row >= self.limit:
            raise CorruptDataError(f"no usable sample among the last {self.unusable_in_a_row} "
                                   f"read; the last: {message}")

    def usable(self) -> None:
        if self.collected is None and self.unusable_in_a_row > LOGGED_IN_A_ROW + 1:
            LOG.warning("skipped %d more unusable samples in a row before this usable one",
                        self.unusable_in_a_row - LOGGED_IN_A_ROW - 1)
        self.unusable_in_a_row = 0


# ---------------------------------------------------------------- shard lists

def list_shards(shard_dir: str | Path) -> list[ShardEntry]:
    """The shards of a folder: from manifest.json when present, else every *.tar in name order.
    CorruptDataError for a folder with no shards, an unfinished build or a bad manifest."""
    shard_dir = Path(shard_dir)
    manifest = shard_dir / MANIFEST_NAME
    if manifest.is_file():
        entries = [ShardEntry(str(shard_dir / name), count)
                   for name, count in _manifest_shards(manifest)]
    else:
        entries = [ShardEntry(str(p), None) for p in sorted(shard_dir.glob("*.tar"))]
    if not entries and (shard_dir / WORK_DIR_NAME).is_dir():
        raise CorruptDataError(f"{shard_dir}: an unfinished build (no manifest.json yet); "
                               "finish it by running the same build-shards command again")
    if not entries:
        raise CorruptDataError(f"{shard_dir}: no shards (no manifest.json and no *.tar files)")
    return entries


def _manifest_shards(manifest: Path) -> list[tuple[str, int]]:
    """(name, count) of each shard the manifest lists; names must be plain file names, so a
    manifest can never make the reader open files outside its folder."""
    try:
        listed = [(s["name"], int(s["count"])) for s in json.loads(manifest.read_text())["shards"]]
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptDataError(f"{manifest}: unreadable ({type(error).__name__}: {error})") from None
    for name, _ in listed:
        check_shard_name(manifest, name)
    return listed


def check_shard_name(manifest: Path, name) -> None:
    """CorruptDataError unless `name` is a plain file name (no folder part, no '..')."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name \
            or "\\" in name:
        raise CorruptDataError(f"{manifest}: shard name {name!r} is not a plain file name "
                               "inside the folder")


def dataset_patch(shard_dir: str | Path) -> int | None:
    """The crop size a build-shards folder was made with (0: whole images), from its manifest;
    None when it has no readable one."""
    try:
        identity = json.loads((Path(shard_dir) / MANIFEST_NAME).read_text()).get("identity", {})
    except (OSError, ValueError, AttributeError):
        return None
    patch = identity.get("patch") if isinstance(identity, dict) else None
    return patch if isinstance(patch, int) else None


def filter_shards(shard_dir: str | Path, entries: list[ShardEntry], ops_filter) -> list[ShardEntry]:
    """Restrict to samples whose chain passes `ops_filter` (see pipelines.index.OpsFilter)."""
    if ops_filter is None:
        return entries
    from pipelines.index import select_keys

    selected = select_keys(Path(shard_dir), ops_filter)
    kept = [ShardEntry(e.path, e.count, frozenset(selected[Path(e.path).name]))
            for e in entries if Path(e.path).name in selected]
    if not kept:
        raise ValueError(f"{shard_dir}: no sample matches the ops filter {ops_filter!r}")
    return kept


def sample_total(entries: list[ShardEntry]) -> int | None:
    if any(e.keys is None and e.count is None for e in entries):
        return None
    return sum(len(e.keys) if e.keys is not None else e.count for e in entries)


# ---------------------------------------------------------------- stages

def shard_stream(entries: list[ShardEntry], seed: int, split: int, splits: int) -> Iterator[ShardEntry]:
    """Endless: seeded permutations of `entries`, one after another; every `splits`-th from `split`."""
    position, round_index = 0, 0
    while True:
        order = np.random.default_rng([seed, round_index, 0x5A4D]).permutation(len(entries))
        for shard_index in order:
            if position % splits == split:
                yield entries[shard_index]
            position += 1
        round_index += 1


def split_key(member_name: str) -> tuple[str, str]:
    """'dir/000000001.lq.png' -> ('000000001', 'lq.png'): split at the basename's first dot."""
    base = member_name.rsplit("/", 1)[-1]
    key, _, suffix = base.partition(".")
    return key, suffix.lower()


def read_tar_samples(entries: Iterable[ShardEntry], problems: Problems,
                     max_empty: int | None = None) -> Iterator[dict]:
    """Raw samples {"__key__", "__shard__", suffix: bytes}; see the module's corruption policy."""
    empty_in_a_row = 0
    for entry in entries:
        yielded = 0
        for sample in _read_one_tar(entry, problems):
            yielded += 1
            yield sample
        empty_in_a_row = 0 if yielded else empty_in_a_row + 1
        if max_empty is not None and empty_in_a_row > max_empty:
            raise CorruptDataError(f"no usable sample in {empty_in_a_row} shards in a row "
                                   f"(last: {entry.path}); is the dataset corrupt?")


def _read_one_tar(entry: ShardEntry, problems: Problems) -> Iterator[dict]:
    """Member contents are zero-copy memoryviews into a read-only mmap of the shard: no
    allocation, copy and page-faulting of a fresh buffer per member (which costs more than
    decoding an .npy pair); the mapping lives as long as a sample still refers to it."""
    seen, current = 0, None
    try:
        contents = map_file(entry.path)
        for name, start, size in tar_members(contents):
            key, suffix = split_key(name)
            if current is None or current["__key__"] != key:
                if current is not None:
                    seen += 1
                    if _wanted(current, entry):
                        yield current
                current = {"__key__": key, "__shard__": entry.path}
            if entry.keys is None or key in entry.keys:
                current[suffix] = contents[start:start + size]
    except (OSError, ValueError, tarfile.TarError, EOFError) as error:
        problems.report(entry.path, f"unreadable tar after {seen} samples ({type(error).__name__}: {error})")
        return
    if current is not None:
        seen += 1
        if _wanted(current, entry):
            yield current
    if entry.count is not None and seen != entry.count:
        problems.report(entry.path, f"holds {seen} samples but the manifest says {entry.count} "
                        "(truncated or replaced shard)")


def map_file(path: str) -> memoryview:
    """A read-only memory map of a whole file (ValueError for an empty one), its pages mapped up
    front where the OS can (one call instead of a page fault per 4 KB as the decoders touch them)."""
    populate = getattr(mmap, "MAP_POPULATE", 0)
    with open(path, "rb") as handle:
        if populate:
            mapping = mmap.mmap(handle.fileno(), 0, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)
        else:
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return memoryview(mapping)


def _wanted(sample: dict, entry: ShardEntry) -> bool:
    return entry.keys is None or sample["__key__"] in entry.keys


def shuffle_buffer(samples: Iterable[dict], size: int, rng: np.random.Generator) -> Iterator[dict]:
    """Reservoir-style shuffle: fill `size` slots, then emit a random slot for every new sample."""
    buffer: list[dict] = []
    for sample in samples:
        if len(buffer) < size:
            buffer.append(sample)
            continue
        slot = int(rng.integers(len(buffer)))
        buffer[slot], sample = sample, buffer[slot]
        yield sample
    while buffer:
        yield buffer.pop(int(rng.integers(len(buffer))))


def decode_samples(samples: Iterable[dict], problems: Problems, threads: int = 0) -> Iterator[dict]:
    """Raw -> decoded samples (decode_sample: "key", "shard", "lq", "gt" uint8 HxWx3 RGB,
    "record" dict, and any other member the schema declares); bad ones reported.

    threads > 0 decodes that many samples at a time on a thread pool (OpenCV's decoders release
    the GIL) and still yields in input order, so the output does not depend on the thread count.
    """
    outcomes = (map(_decode_or_error, samples) if threads <= 0
                else ordered_map(_decode_or_error, samples, threads))
    for raw, outcome in outcomes:
        if isinstance(outcome, Exception):
            problems.report(f"{raw['__shard__']}:{raw['__key__']}", str(outcome))
        else:
            yield outcome


def _decode_or_error(raw: dict) -> tuple[dict, dict | Exception]:
    try:
        return raw, decode_sample(raw)
    except (CodecError, KeyError, ValueError) as error:
        return raw, error


def ordered_map(function, items: Iterable, threads: int) -> Iterator:
    """function(item) for each item, `threads` at a time, in input order; at most 2 x threads
    items are taken ahead of the consumer."""
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="shard-decode") as pool:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def decode_sample(raw: dict) -> dict:
    """Raw -> {"key", "shard", and each member of pipelines.schema by its field}."""
    return schema.SAMPLE.decode(raw)


def augment_together(samples: Iterable[dict], patch: int, rng: np.random.Generator,
                     problems: Problems, flips: bool = True) -> Iterator[dict]:
    """One random crop (patch x patch; 0 = none), flip and 90-degree turn per sample, applied
    alike to every geometric image member (lq and gt, see pipelines.schema)."""
    fields = [member.field for member in schema.SAMPLE.geometric]
    for sample in samples:
        height, width = sample[fields[0]].shape[:2]
        if patch and (height < patch or width < patch):
            problems.report(f"{sample['shard']}:{sample['key']}",
                            f"{height}x{width} is smaller than the training patch {patch}")
            continue
        y, x = random_window(rng, (height, width), patch) if patch else (0, 0)
        h, w = (patch, patch) if patch else (height, width)
        turn, flip = (int(rng.integers(4)), bool(rng.integers(2))) if flips else (0, False)
        problems.usable()
        yield dict(sample, **{field: _view(sample[field], y, x, h, w, turn, flip) for field in fields})


def _symmetry_ops() -> dict:
    """(turn, flip) -> the OpenCV calls that produce it: one pass for 7 of the 8 symmetries
    (a quarter turn then a mirror is a transpose, or a vertical flip), two for the last."""
    import cv2

    def rotate(code):
        return lambda image: cv2.rotate(image, code)

    def flip(code):
        return lambda image: cv2.flip(image, code)

    return {(0, False): (), (0, True): (flip(1),),
            (1, False): (rotate(cv2.ROTATE_90_COUNTERCLOCKWISE),),
            (1, True): (cv2.transpose, flip(-1)),  # the anti-transpose
            (2, False): (flip(-1),), (2, True): (flip(0),),
            (3, False): (rotate(cv2.ROTATE_90_CLOCKWISE),), (3, True): (cv2.transpose,)}


_SYMMETRIES: dict = {}


def _view(image: np.ndarray, y: int, x: int, h: int, w: int, turn: int, flip: bool) -> np.ndarray:
    """The crop turned `turn` x 90 degrees counter-clockwise (np.rot90), then mirrored left-right,
    always C-contiguous (OpenCV's split reads a strided view much slower than a copy)."""
    if not _SYMMETRIES:
        _SYMMETRIES.update(_symmetry_ops())
    view = image[y:y + h, x:x + w]
    operations = _SYMMETRIES[(turn, flip)]
    if not operations:
        return np.ascontiguousarray(view)
    for operation in operations:
        view = operation(view)
    return view


def iter_dataset(shard_dir: str | Path, strict: bool = False, decode: bool = True) -> Iterator[dict]:
    """Every sample once, in shard and key order, decoded like decode_sample (no torch needed)."""
    problems = Problems(strict)
    raw = read_tar_samples(list_shards(shard_dir), problems)
    return decode_samples(raw, problems) if decode else raw

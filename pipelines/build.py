"""build_shards: from source images to finished shards, index.parquet, stats.json and manifest.json.

Order of work (each step safe to interrupt with kill -9):
1. check the output folder: a finished build with the same options -> nothing to do; any build
   with different options -> BuildError unless overwrite;
2. scan the sources once (hash + full decode), cached in `.build/sources.json`;
3. run the missing shard tasks (pipelines.shardtask) on the chosen distributor;
4. write index.parquet and stats.json, then manifest.json last, then remove `.build/`.
A folder without manifest.json is an unfinished build; re-running the same command finishes it
with the same bytes an uninterrupted run would have written.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from degrade.errors import ConfigError, KitError
from pipelines import schema
from pipelines.codecs import FORMATS
from pipelines.distributors import DISTRIBUTORS, default_workers, run_local, run_tasks
from pipelines.folderlock import folder_lock
from pipelines.index import INDEX_NAME, write_index
from pipelines.plan import plan_shards, source_for_sample
from pipelines.schema import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME
from pipelines.shardtask import (WORK_DIR_NAME, ChainOptions, ShardResult, ShardTask, UsableSource,
                                 clear_source_cache, make_shard, sidecar_path)
from pipelines.files import TEMPORARY_GLOB, remove_stale_temporaries, sha256_file, write_bytes_atomically
from pipelines.sidecars import SIDECARS, write_sidecars
from pipelines.sources import (DEFAULT_MAX_PIXELS, find_sources, scan_source, skip_category,
                               source_label)

STATS_NAME = "stats.json"
MODES = ("prod", "fixed", "single")
MIN_WHOLE_IMAGE_SIDE = 32  # --patch 0 keeps whole images, but not thumbnails
JSON_SAFE_INTEGER = 2**53 - 1  # the manifest records the seed as a JSON integer


class BuildError(KitError):
    """A build that cannot start or continue; str(error) is a one-line explanation."""


@dataclass(frozen=True)
class BuildConfig:
    """Everything build_shards needs. Fields above `workers` decide the output bytes."""

    out: str = "shards"
    src_dir: str | None = None
    src_list: str | None = None
    count: int = 1024
    patch: int = 256
    mode: str = "prod"
    ops: tuple[str, ...] | None = None
    k: int | None = None
    n: int = 6
    min_length: int = 1
    seed: int = 0
    shard_size: int = 256
    fmt: str = "png"
    max_pixels: int = DEFAULT_MAX_PIXELS
    # Execution only: never changes a byte of the output.
    workers: int | None = None
    distributor: str = "local"
    overwrite: bool = False
    progress: bool = True


@dataclass(frozen=True)
class BuildSummary:
    out: str
    pairs: int
    shards: int
    bytes: int
    seconds: float
    made_now: int
    sources_used: int
    sources_skipped: int
    already_complete: bool = False
    skipped_reasons: dict = field(default_factory=dict)

    def line(self) -> str:
        if self.already_complete:
            return (f"{self.out} already holds this finished build ({self.pairs} pairs in "
                    f"{self.shards} shards); nothing to do")
        rate = self.made_now / self.seconds if self.seconds > 0 else 0.0
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped_reasons.items()) or "none"
        return (f"{self.pairs} pairs in {self.shards} shards ({self.bytes / 1e6:.1f} MB) in "
                f"{self.out}; {self.made_now} made now in {self.seconds:.1f} s ({rate:.1f} pairs/s); "
                f"{self.sources_used} sources used, {self.sources_skipped} skipped ({skipped})")


def validate_config(config: BuildConfig) -> list[str]:
    """Checks every option; returns the op pool. ConfigError names the bad field."""
    from degrade.chain import check_chain_options
    from degrade.registry import resolve_pool

    checks = [
        ("count", config.count >= 1, f"must be at least 1, got {config.count}"),
        ("patch", config.patch >= 0, f"must be 0 (whole images) or a size in pixels, got {config.patch}"),
        ("shard_size", config.shard_size >= 1, f"must be at least 1, got {config.shard_size}"),
        ("mode", config.mode in MODES, f"must be one of {', '.join(MODES)}, got {config.mode!r}"),
        ("fmt", config.fmt in FORMATS, f"must be one of {', '.join(FORMATS)}, got {config.fmt!r}"),
        ("seed", 0 <= config.seed <= JSON_SAFE_INTEGER,
         f"must be an integer in 0..2^53-1 (exact in every JSON reader), got {config.seed}"),
        ("workers", config.workers is None or config.workers >= 1,
         f"must be at least 1, got {config.workers}"),
        ("distributor", config.distributor in DISTRIBUTORS,
         f"must be one of {', '.join(DISTRIBUTORS)}, got {config.distributor!r}"),
    ]
    for name, ok, reason in checks:
        if not ok:
            raise ConfigError(name, reason)
    try:
        pool = resolve_pool(list(config.ops) if config.ops else None, config.k)
    except ValueError as error:
        raise ConfigError("k" if str(error).startswith("K=") else "ops", str(error)) from None
    try:
        check_chain_options(pool, config.n, config.mode, config.min_length)
    except ValueError as error:
        raise ConfigError("min_length" if "min_length" in str(error) else "n", str(error)) from None
    return pool


def identity(config: BuildConfig, pool: list[str], listing: str) -> dict:
    """What decides the output bytes: the options, the tool and record versions, the sources."""
    from degrade.chain import RECORD_VERSION

    return {"format_version": FORMAT_VERSION, "tool_version": tool_version(),
            "record_version": RECORD_VERSION, "count": config.count, "patch": config.patch,
            "mode": config.mode, "pool": list(pool), "max_length": config.n,
            "min_length": config.min_length, "seed": config.seed, "shard_size": config.shard_size,
            "format": config.fmt, "max_pixels": config.max_pixels, "sources_listing": listing}


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("colora-kit")
    except PackageNotFoundError:
        return "unknown"


def source_listing(paths: list[Path], labels: list[str]) -> str:
    """sha256 over (label, byte size) of every candidate source: cheap, and machine-independent."""
    import hashlib

    digest = hashlib.sha256()
    for path, label in zip(paths, labels):
        size = path.stat().st_size if path.is_file() else -1
        digest.update(f"{label}\t{size}\n".encode())
    return digest.hexdigest()


def source_root(config: BuildConfig) -> Path | None:
    """What source labels are relative to: --src, or the folder of the --src-list file."""
    if config.src_dir is not None:
        return Path(config.src_dir)
    return Path(config.src_list).parent if config.src_list is not None else None


def build_shards(config: BuildConfig) -> BuildSummary:
    """Build (or finish, or confirm) the dataset described by `config`. See the module docstring."""
    started = time.perf_counter()
    pool = validate_config(config)
    paths = find_sources(config.src_dir, config.src_list)
    if not paths:
        where = config.src_dir or config.src_list or "the embedded defaults"
        raise BuildError(f"no source images found in {where} (looked for "
                         "*.jpg, *.jpeg, *.png, *.webp, *.bmp, *.tif, *.tiff)")
    labels = [source_label(p, source_root(config)) for p in paths]
    wanted = identity(config, pool, source_listing(paths, labels))
    with folder_lock(config.out, "build"):
        return _build_locked(config, pool, paths, labels, wanted, started)


def _build_locked(config: BuildConfig, pool: list[str], paths: list[Path], labels: list[str],
                  wanted: dict, started: float) -> BuildSummary:
    out = Path(config.out)
    finished = prepare_out_dir(out, wanted, config.overwrite)
    if finished is not None:
        return finished
    workers = config.workers or default_workers()
    scan = scan_sources(out, paths, labels, config, workers)
    usable = [UsableSource(e["label"], e["path"], e["sha256"], e["height"], e["width"])
              for e in scan if "skipped" not in e]
    if not usable:
        reasons = Counter(skip_category(e["skipped"]) for e in scan)
        raise BuildError(f"none of the {len(scan)} source images is usable: "
                         + ", ".join(f"{n} {why}" for why, n in reasons.items()))
    tasks = shard_tasks(config, pool, usable, out)
    try:
        results, made_now = run_missing(tasks, out, config, workers)
    finally:
        clear_source_cache()  # an inline (1-worker) run cached a decoded image in this process
    return finish(out, config, wanted, scan, results, made_now, time.perf_counter() - started, workers)


def prepare_out_dir(out: Path, wanted: dict, overwrite: bool) -> BuildSummary | None:
    """Returns a summary when the folder already holds this finished build; raises on a clash."""
    manifest_path, work_identity = out / MANIFEST_NAME, out / WORK_DIR_NAME / "identity.json"
    existing = None
    if manifest_path.is_file():
        existing = read_json_or_empty(manifest_path)
        if existing.get("identity") == wanted and not overwrite:
            # A kill between writing the manifest and tidying up leaves these behind.
            shutil.rmtree(out / WORK_DIR_NAME, ignore_errors=True)
            totals = existing["totals"]
            return BuildSummary(str(out), totals["samples"], totals["shards"], totals["bytes"], 0.0, 0,
                                0, 0, already_complete=True)
    elif work_identity.is_file():
        existing = {"identity": read_json_or_empty(work_identity)}
        if existing["identity"] == wanted:
            remove_stale_temporaries(out)  # left by a killed run; never a finished file
            return None
    elif any(out.glob("shard-*.tar")):
        existing = {"identity": {}}
    if existing is not None and not overwrite:
        raise BuildError(f"{out} already holds a build with different options "
                         f"({describe_difference(existing.get('identity', {}), wanted)}); "
                         "nothing was changed. Overwrite it, or choose another folder",
                         field="out")
    if existing is not None:
        remove_build_files(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / WORK_DIR_NAME).mkdir(exist_ok=True)
    write_bytes_atomically(work_identity, json.dumps(wanted, sort_keys=True).encode())
    return None


def read_json_or_empty(path: Path) -> dict:
    """A damaged manifest or identity file counts as a build of unknown options (never a crash)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def describe_difference(old: dict, new: dict) -> str:
    if not old:
        return "shard files or a manifest from an unknown or damaged build"
    changed = [f"{name}: {old.get(name)!r} -> {new.get(name)!r}"
               for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
    if not changed:
        return "unknown options"
    return "; ".join(c if not c.startswith("sources_listing") else "the source images differ"
                     for c in changed)


def remove_build_files(out: Path) -> None:
    """Only what build_shards writes; any other file in the folder (a README) stays."""
    for pattern in ("shard-*.tar", TEMPORARY_GLOB):
        for path in out.glob(pattern):
            path.unlink()
    for name in (MANIFEST_NAME, STATS_NAME, INDEX_NAME, *SIDECARS.values()):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / WORK_DIR_NAME, ignore_errors=True)


def scan_sources(out: Path, paths: list[Path], labels: list[str], config: BuildConfig,
                 workers: int) -> list[dict]:
    """Every source checked once; cached in .build/sources.json so a resumed build skips it."""
    cache = out / WORK_DIR_NAME / "sources.json"
    if cache.is_file():
        # Same identity, so the same labels in the same order; paths are this run's (the cwd or
        # mount point may differ from the interrupted run's).
        cached = read_json_or_empty_list(cache)
        if len(cached) == len(paths) and all(e.get("label") == l for e, l in zip(cached, labels)):
            return [dict(entry, path=str(path)) for entry, path in zip(cached, paths)]
    min_side = config.patch if config.patch > 0 else MIN_WHOLE_IMAGE_SIDE
    jobs = [(i, str(p), label, min_side, config.max_pixels) for i, (p, label) in enumerate(zip(paths, labels))]
    entries = dict(run_local(_scan_job, jobs, workers))
    scan = [entries[i] for i in range(len(jobs))]
    write_bytes_atomically(cache, json.dumps(scan, sort_keys=True).encode())
    return scan


def read_json_or_empty_list(path: Path) -> list:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return value if isinstance(value, list) else []


def _scan_job(job: tuple) -> tuple[int, dict]:
    index, path, label, min_side, max_pixels = job
    return index, scan_source(path, label, min_side, max_pixels)


def shard_tasks(config: BuildConfig, pool: list[str], usable: list[UsableSource], out: Path) -> list[ShardTask]:
    chain = ChainOptions(tuple(pool), config.n, config.mode, config.min_length)
    tasks = []
    for shard in plan_shards(config.count, config.shard_size):
        first = source_for_sample(shard.first, config.count, len(usable))
        last = source_for_sample(shard.stop - 1, config.count, len(usable))
        sources = tuple((i, usable[i]) for i in range(first, last + 1))
        tasks.append(ShardTask(shard, str(out), config.seed, config.count, config.patch, config.fmt,
                               chain, len(usable), sources))
    return tasks


def load_done(out: Path, shard_name: str) -> ShardResult | None:
    """A shard finished by an earlier (possibly killed) run, or None if it must be (re)made."""
    sidecar, tar = sidecar_path(out, shard_name), out / shard_name
    if not sidecar.is_file() or not tar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None  # a receipt cut short (power loss): make the shard again
    if tar.stat().st_size != record["bytes"]:
        return None
    return ShardResult(record["name"], record["count"], record["bytes"], record["sha256"],
                       tuple(record["rows"]))


def run_missing(tasks: list[ShardTask], out: Path, config: BuildConfig, workers: int):
    from tqdm import tqdm

    results = {t.shard.name: load_done(out, t.shard.name) for t in tasks}
    missing = [t for t in tasks if results[t.shard.name] is None]
    done_pairs = sum(r.count for r in results.values() if r is not None)
    bar = tqdm(total=config.count, initial=done_pairs, unit="pair", desc="build-shards",
               disable=not config.progress, dynamic_ncols=True, smoothing=0.1)
    made_now, ticks = 0, 0

    def show(new_ticks: int | None = None) -> None:
        """Samples ticked by running tasks, or finished shards' counts if those are ahead (Ray)."""
        nonlocal ticks
        ticks = max(ticks, new_ticks or 0)
        bar.update(max(0, done_pairs + max(ticks, made_now) - bar.n))

    try:
        for result in run_tasks(make_shard, missing, workers, config.distributor, on_ticks=show):
            results[result.name] = result
            made_now += result.count
            show()
    finally:
        bar.close()
    return [results[t.shard.name] for t in tasks], made_now


def finish(out: Path, config: BuildConfig, wanted: dict, scan: list[dict], results: list[ShardResult],
           made_now: int, seconds: float, workers: int) -> BuildSummary:
    rows = [row for result in results for row in result.rows]
    write_index(out / INDEX_NAME, rows)
    stats = build_stats(scan, rows, made_now, seconds, workers, config.distributor)
    write_bytes_atomically(out / STATS_NAME, json.dumps(stats, indent=2, sort_keys=True).encode())
    manifest = build_manifest(out, config, wanted, results, seconds, workers)
    manifest["sidecars"] = write_sidecars(out, manifest["shards"], (INDEX_NAME, STATS_NAME))
    write_bytes_atomically(out / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True).encode())
    shutil.rmtree(out / WORK_DIR_NAME, ignore_errors=True)
    skipped = [e for e in scan if "skipped" in e]
    return BuildSummary(str(out), len(rows), len(results), sum(r.bytes for r in results), seconds,
                        made_now, len(scan) - len(skipped), len(skipped),
                        skipped_reasons=dict(Counter(skip_category(e["skipped"]) for e in skipped)))


def build_stats(scan: list[dict], rows: list[dict], made_now: int, seconds: float, workers: int,
                distributor: str) -> dict:
    skipped = [e for e in scan if "skipped" in e]
    return {
        "samples": len(rows),
        "op_occurrences": dict(sorted(Counter(op for r in rows for op in r["ops"]).items())),
        "samples_containing_op": dict(sorted(Counter(op for r in rows for op in set(r["ops"])).items())),
        "chain_lengths": {str(k): v for k, v in sorted(Counter(r["chain_length"] for r in rows).items())},
        "sources": {"found": len(scan), "used": len(scan) - len(skipped), "skipped": len(skipped),
                    "skipped_by_reason": dict(sorted(Counter(skip_category(e["skipped"]) for e in skipped).items())),
                    "skipped_files": [{"path": e["label"], "reason": e["skipped"]} for e in skipped]},
        "throughput": {"pairs_made_this_run": made_now, "seconds_this_run": round(seconds, 3),
                       "pairs_per_second": round(made_now / seconds, 2) if seconds > 0 else None,
                       "workers": workers, "distributor": distributor},
    }


def build_manifest(out: Path, config: BuildConfig, wanted: dict, results: list[ShardResult],
                   seconds: float, workers: int) -> dict:
    from degrade.chain import space_size

    config_dict = {**asdict(replace(config, out=str(config.out))), "workers": workers}
    config_dict["ops"] = list(config.ops) if config.ops else None
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "tool": {"name": "colora-kit",
                                                                         "version": wanted["tool_version"]},
        "config": config_dict, "identity": wanted, "seed": config.seed,
        "degradation_space": {"pool": wanted["pool"], "k": len(wanted["pool"]), "n": config.n,
                              "size": space_size(len(wanted["pool"]), config.n)},
        "sample": schema.SAMPLE.manifest_entry(config.fmt),
        "shards": [{"name": r.name, "count": r.count, "bytes": r.bytes, "sha256": r.sha256} for r in results],
        "totals": {"samples": sum(r.count for r in results), "shards": len(results),
                   "bytes": sum(r.bytes for r in results)},
        "index": {"name": INDEX_NAME, "sha256": sha256_file(out / INDEX_NAME)},
        "stats": STATS_NAME,
        "build": {"finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "seconds_last_run": round(seconds, 3)},
    }

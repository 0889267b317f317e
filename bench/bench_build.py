"""Build throughput of `build-shards` against its floor: the engine's degradation and two PNG encodes.

For the same planned samples (256x256 crops of the embedded images, K=7, N=6), it times
(a) degrade.chain.degrade alone, (b) cv2 PNG encodes of lq and gt, then (c) the whole build with
1 worker and (d) with 2 workers, and prints pairs/s and the overhead of everything else
(source scan, hashing, tar, index, manifest, process start) as a share of the 1-worker build,
split into what a build pays once and what it pays per pair (the share a large build sees).

    .venv/bin/python bench/bench_build.py            # 2048 pairs in 16 shards of 128
"""
from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def planned_crops(count: int, seed: int, patch: int):
    from pipelines.plan import SourceShape, plan_sample
    from pipelines.sources import embedded_default_sources, load_image

    images = [load_image(p) for p in embedded_default_sources()]
    shapes = [SourceShape(*im.shape[:2]) for im in images]
    for index in range(count):
        plan = plan_sample(seed, index, count, shapes, patch)
        y, x, h, w = plan.crop
        yield plan.chain_seed, np.ascontiguousarray(images[plan.source][y:y + h, x:x + w])


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children: immune to other jobs' load."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def warm_up(image: np.ndarray, pool: list[str]) -> None:
    """Run every op a few times outside the timings: on a fresh machine numba compiles each
    kernel on first use (seconds), which would otherwise land in whichever row runs it first."""
    from degrade.chain import degrade_named
    from pipelines.codecs import encode_png

    for seed in range(4):
        for name in pool:
            encode_png(degrade_named(image, [name], seed)[0])


def time_floor(count: int, seed: int, patch: int, k: int, n: int) -> tuple[float, float]:
    from degrade.chain import degrade
    from degrade.registry import resolve_pool
    from pipelines.codecs import encode_png

    pool = resolve_pool(k=k)
    crops = list(planned_crops(count, seed, patch))
    warm_up(crops[0][1], pool)
    degrade_s = encode_s = 0.0
    for chain_seed, clean in crops:
        start = time.process_time()
        degraded, _ = degrade(clean, chain_seed, pool, n)
        middle = time.process_time()
        encode_png(degraded), encode_png(clean)
        degrade_s, encode_s = degrade_s + middle - start, encode_s + time.process_time() - middle
    return degrade_s, encode_s


def time_build(out: Path, count: int, seed: int, patch: int, k: int, n: int, workers: int,
               shard_size: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its workers) for one fresh build."""
    from pipelines.build import BuildConfig, build_shards

    shutil.rmtree(out, ignore_errors=True)
    start, start_cpu = time.perf_counter(), cpu_seconds()
    build_shards(BuildConfig(out=str(out), count=count, patch=patch, k=k, n=n, seed=seed, workers=workers,
                             shard_size=shard_size, progress=False))
    return time.perf_counter() - start, cpu_seconds() - start_cpu


def time_build_with_floor(out: Path, *args) -> tuple[float, float, dict]:
    """A 1-worker (inline) build that also sums the CPU time spent inside degrade(), the PNG
    encodes, and the once-per-build phases (source scan; index, stats and manifest) during that
    very build, so the shares do not depend on load drift."""
    import degrade.chain
    import pipelines.build
    import pipelines.schema

    spent = {"degrade": 0.0, "encode": 0.0, "scan": 0.0, "finish": 0.0}

    def timed(name, fn):
        def wrapper(*a, **kw):
            start = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.process_time() - start
        return wrapper

    patched = [(degrade.chain, "degrade", "degrade"), (pipelines.schema, "encode_image", "encode"),
               (pipelines.build, "scan_sources", "scan"), (pipelines.build, "finish", "finish")]
    originals = [getattr(module, name) for module, name, _ in patched]
    for module, name, bucket in patched:
        setattr(module, name, timed(bucket, getattr(module, name)))
    try:
        wall, cpu = time_build(out, *args)
    finally:
        for (module, name, _), original in zip(patched, originals):
            setattr(module, name, original)
    return wall, cpu, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2048)
    # 16 shard tasks: with 4 (build-shards' default size) the 2-worker wall time is set by
    # whichever pair of shards drew the longer chains, not by how the build scales
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--k", type=int, default=7)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    degrade_s, encode_s = time_floor(args.count, args.seed, args.patch, args.k, args.n)
    floor = degrade_s + encode_s
    with tempfile.TemporaryDirectory() as tmp:
        shard_size = args.shard_size
        common = (args.count, args.seed, args.patch, args.k, args.n)
        wall1, cpu1, spent = time_build_with_floor(Path(tmp) / "w1", *common, 1, shard_size)
        two = time_build(Path(tmp) / "w2", *common, 2, shard_size)
        same = all((Path(tmp) / "w1" / p.name).read_bytes() == p.read_bytes()
                   for p in (Path(tmp) / "w2").glob("shard-*.tar"))
    c = args.count
    print(f"build throughput, {c} pairs of {args.patch}x{args.patch}, K={args.k}, N={args.n}, "
          f"{shard_size} per shard; CPU seconds (immune to other jobs) and wall seconds")
    print(f"{'stage':44s} {'CPU s':>7s} {'CPU ms/pair':>11s} {'wall s':>7s} {'wall pairs/s':>12s}")
    rows = [("degrade() alone, separate run", degrade_s, None), ("2 PNG encodes alone, separate run", encode_s, None),
            ("degrade() inside the 1-worker build", spent["degrade"], None),
            ("PNG encodes inside the 1-worker build", spent["encode"], None),
            ("once per build: source scan", spent["scan"], None),
            ("once per build: index, stats, manifest", spent["finish"], None),
            ("build-shards, 1 worker", cpu1, wall1), ("build-shards, 2 workers", two[1], two[0])]
    for name, cpu, wall in rows:
        wall_text = f"{wall:7.2f} {c / wall:12.1f}" if wall else f"{'':7s} {'':12s}"
        print(f"{name:44s} {cpu:7.2f} {1000 * cpu / c:11.2f} {wall_text}")
    inside = spent["degrade"] + spent["encode"]
    once = spent["scan"] + spent["finish"]
    per_pair = cpu1 - inside - once
    print(f"everything else in the 1-worker build (CPU): {100 * (cpu1 - inside) / cpu1:5.1f}% "
          f"(target <= 10%; against the separate-run floor: {100 * (cpu1 - floor) / cpu1:5.1f}%)")
    print(f"  of which once per build (scan, index, manifest): {once:5.2f} s = {100 * once / cpu1:4.1f}%; "
          f"per pair (plan, crop, JSON, tar, sha256, writes): {1000 * per_pair / c:5.2f} ms = "
          f"{100 * per_pair / (cpu1 - once):4.1f}% of a pair's build time")
    print(f"parallel efficiency, CPU 1 worker / CPU 2 workers: {cpu1 / two[1]:4.2f} "
          f"(so 2 free cores would give about {2 * cpu1 / two[1]:4.2f}x; target >= 1.8x)")
    print(f"wall speed-up 2 workers / 1 worker: {wall1 / two[0]:4.2f}x (meaningful only on idle cores)")
    print(f"1- and 2-worker shards identical: {same}")


if __name__ == "__main__":
    main()

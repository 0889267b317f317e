"""Read throughput of pipelines.reader.train_loader against the cv2 decode bound.

Builds a small 256x256 dataset in PNG and in npy (or reuses --png/--npy folders), measures the
bound (pairs per CPU second decoding the lq and gt members from memory with cv2), then the
loader with 0, 1 and 2 DataLoader workers (batch 16, patch 256, flips on): wall pairs/s, and
pairs per CPU second (main process plus workers) as a share of the bound.

    .venv/bin/python bench/bench_reader.py --count 512
"""
from __future__ import annotations

import argparse
import gc
import resource
import tarfile
import tempfile
import time
from pathlib import Path


def build(out: Path, count: int, fmt: str) -> Path:
    from pipelines.build import BuildConfig, build_shards

    build_shards(BuildConfig(out=str(out), count=count, shard_size=max(1, count // 8), fmt=fmt, seed=1,
                             progress=False))
    return out


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children: immune to other jobs' load."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def decode_bound(folder: Path) -> float:
    """Pairs per CPU second for decoding every lq+gt member already in memory (cv2, one core)."""
    from pipelines.codecs import decode_image

    members = []
    for tar_path in sorted(folder.glob("shard-*.tar")):
        with tarfile.open(tar_path) as tar:
            members += [(m.name.rsplit(".", 1)[1], tar.extractfile(m).read())
                        for m in tar.getmembers() if ".lq." in m.name or ".gt." in m.name]
    start = time.process_time()
    for fmt, data in members:
        decode_image(data, fmt)
    return (len(members) / 2) / (time.process_time() - start)


def loader_rates(folder: Path, workers: int, batches: int, batch_size: int = 16,
                 as_uint8: bool = False) -> tuple[float, float]:
    """(wall pairs/s after warm-up, pairs per CPU second over the whole run incl. workers)."""
    from pipelines.reader import train_loader

    cpu_start = cpu_seconds()
    loader = train_loader(folder, batch_size=batch_size, patch=256, workers=workers, seed=0,
                          epoch_length=batches + 4, rank=0, world_size=1, as_uint8=as_uint8)
    iterator = iter(loader)
    for _ in range(4):  # start-up: workers forked, shuffle buffers filling
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    wall = batches * batch_size / (time.perf_counter() - start)
    del iterator, loader  # joins the workers, so their CPU time is counted
    gc.collect()
    return wall, (batches + 4) * batch_size / (cpu_seconds() - cpu_start)


def main() -> None:
    import torch

    torch.set_num_threads(1)  # targets are per core; extra intra-op threads only fight for the same cores
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=512)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--png", type=Path, default=None, help="an existing 256x256 PNG shard folder")
    parser.add_argument("--npy", type=Path, default=None, help="an existing 256x256 npy shard folder")
    parser.add_argument("--uint8", action="store_true",
                        help="uint8 batches out (as_uint8=True: the float conversion happens on the GPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"png": args.png or build(Path(tmp) / "png", args.count, "png"),
                   "npy": args.npy or build(Path(tmp) / "npy", args.count, "npy")}
        out = "uint8" if args.uint8 else "float32"
        print(f"read throughput, 256x256 pairs, batch 16, {out} tensors out, torch threads 1")
        print("(pairs per CPU second is immune to other jobs' load; workers' prefetched batches "
              "count against it)")
        print(f"{'format':6s} {'workers':>7s} {'wall pairs/s':>12s} {'pairs/CPU s':>11s} {'of decode bound':>15s}")
        for fmt, folder in folders.items():
            bound = decode_bound(folder)
            print(f"{fmt:6s} {'decode':>7s} {'':>12s} {bound:11.0f} {'100%':>15s}")
            for workers in (0, 1, 2):
                wall, per_cpu = loader_rates(folder, workers, args.batches, as_uint8=args.uint8)
                print(f"{fmt:6s} {workers:7d} {wall:12.0f} {per_cpu:11.0f} {100 * per_cpu / bound:14.0f}%")

if __name__ == "__main__":
    main()

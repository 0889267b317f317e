"""Read throughput of pipelines.reader.train_loader against the cv2 decode bound.

Builds a small 256x256 dataset in PNG and in npy (or reuses --png/--npy folders), measures the
bound (pairs per CPU second decoding the lq and gt members from memory: OpenCV's PNG decode,
the issue's yardstick, and our own decoder beside it), then the
loader with DataLoader worker processes and decode threads (batch 16, patch 256, flips on):
wall pairs/s, and pairs per CPU second (main process, its threads and workers, in steady state)
as a share of the bound.

    .venv/bin/python bench/bench_reader.py --count 512
"""
from __future__ import annotations

import argparse
import gc
import os
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np


def build(out: Path, count: int, fmt: str) -> Path:
    from pipelines.build import BuildConfig, build_shards

    build_shards(BuildConfig(out=str(out), count=count, shard_size=max(1, count // 8), fmt=fmt, seed=1,
                             progress=False))
    return out


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (Linux /proc): immune to other jobs' load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pids: list[int], timeout: float = 60.0) -> None:
    """Until the loader workers stop using CPU: every prefetch slot is full again."""
    last, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = [process_cpu_seconds(pid) for pid in pids]
        if now == last:
            return
        last = now
        time.sleep(0.3)
    raise RuntimeError("loader workers never went idle")


def opencv_png_decode(data: bytes) -> None:
    """The issue's yardstick: OpenCV's PNG decode to RGB."""
    import cv2

    cv2.cvtColor(cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


def decode_bound(folder: Path, decoder) -> float:
    """Pairs per CPU second for decoding every lq+gt member already in memory (one core)."""
    members = []
    for tar_path in sorted(folder.glob("shard-*.tar")):
        with tarfile.open(tar_path) as tar:
            members += [(tar.extractfile(m).read(), m.name.rsplit(".", 1)[1])
                        for m in tar.getmembers() if ".lq." in m.name or ".gt." in m.name]
    decoder(*members[0])  # compiled code loaded outside the timing
    start = time.process_time()
    for data, fmt in members:
        decoder(data, fmt)
    return (len(members) / 2) / (time.process_time() - start)


def loader_rates(folder: Path, workers: int, threads: int, batches: int, batch_size: int = 16,
                 as_uint8: bool = False) -> tuple[float, float, float]:
    """(wall pairs/s, pairs per CPU second of main process + workers, main-process ms per pair).

    Steady state only: the CPU window opens and closes with every worker idle and its prefetch
    slots full, so it holds exactly the work of the batches consumed in it (no start-up, no
    shuffle-buffer filling, no batches prefetched but never used). The wall rate skips the
    batches that were already waiting when the window opened.
    """
    from pipelines.reader import train_loader

    loader = train_loader(folder, batch_size=batch_size, patch=256, workers=workers, seed=0,
                          epoch_length=batches * 3, rank=0, world_size=1, as_uint8=as_uint8,
                          threads=threads)
    iterator = iter(loader)
    for _ in range(8):  # start-up: workers forked, shuffle buffers filling
        next(iterator)
    pids = [worker.pid for worker in loader._iterator._workers] if workers else []  # DataLoader internals
    wait_until_idle(pids)
    queued = 4 * workers  # prefetch_factor x workers batches wait in the queue
    cpu_start = time.process_time() + sum(map(process_cpu_seconds, pids))
    main_start = time.process_time()
    for index in range(batches):
        if index == queued:
            start = time.perf_counter()
        next(iterator)
    wall = (batches - queued) * batch_size / (time.perf_counter() - start)
    main_ms = 1e3 * (time.process_time() - main_start) / (batches * batch_size)
    wait_until_idle(pids)
    cpu = time.process_time() + sum(map(process_cpu_seconds, pids)) - cpu_start
    del iterator, loader
    gc.collect()
    return wall, batches * batch_size / cpu, main_ms


def parse_configs(text: str) -> list[tuple[int, int]]:
    try:
        return [(int(w), int(t)) for w, t in (item.split("/") for item in text.split(","))]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WORKERS/THREADS[,...], e.g. 0/2,2/0") from None


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
    parser.add_argument("--configs", type=parse_configs, default=parse_configs("0/0,0/2,1/0,2/0"),
                        help="loader processes/decode threads pairs to measure (default 0/0,0/2,1/0,2/0)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"png": args.png or build(Path(tmp) / "png", args.count, "png"),
                   "npy": args.npy or build(Path(tmp) / "npy", args.count, "npy")}
        out = "uint8" if args.uint8 else "float32"
        print(f"read throughput, 256x256 pairs, batch 16, {out} tensors out, torch threads 1")
        print("(pairs per CPU second: main process + workers in steady state, immune to other jobs' load)")
        print(f"{'format':6s} {'workers':>7s} {'threads':>7s} {'wall pairs/s':>12s} {'pairs/CPU s':>11s} "
              f"{'of decode bound':>15s} {'main ms/pair':>12s}")
        from pipelines.codecs import decode_image

        for fmt, folder in folders.items():
            ours = decode_bound(folder, decode_image)
            if fmt == "png":
                bound = decode_bound(folder, lambda data, _: opencv_png_decode(data))
                print(f"{fmt:6s} {'OpenCV decode':>15s} {'':>12s} {bound:11.0f} {'100%':>15s}")
                print(f"{fmt:6s} {'our decode':>15s} {'':>12s} {ours:11.0f} {100 * ours / bound:14.0f}%")
            else:
                bound = ours
                print(f"{fmt:6s} {'decode only':>15s} {'':>12s} {bound:11.0f} {'100%':>15s}")
            for workers, threads in args.configs:
                wall, per_cpu, main_ms = loader_rates(folder, workers, threads, args.batches,
                                                      as_uint8=args.uint8)
                print(f"{fmt:6s} {workers:7d} {threads:7d} {wall:12.0f} {per_cpu:11.0f} "
                      f"{100 * per_cpu / bound:14.0f}% {main_ms:12.3f}")

if __name__ == "__main__":
    main()

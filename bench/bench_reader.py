"""Read throughput of pipelines.reader.train_loader against the cv2 decode bound.

Builds a small 256x256 dataset in PNG and in npy (or reuses --png/--npy folders), measures the
bound (decoding the lq and gt members from memory, one core), then the loader's pairs/s with
0, 1 and 2 DataLoader workers (batch 16, patch 256, flips on), and prints each as a share of
the bound times the cores it can use.

    .venv/bin/python bench/bench_reader.py --count 512
"""
from __future__ import annotations

import argparse
import tarfile
import tempfile
import time
from pathlib import Path


def build(out: Path, count: int, fmt: str) -> Path:
    from pipelines.build import BuildConfig, build_shards

    build_shards(BuildConfig(out=str(out), count=count, shard_size=max(1, count // 8), fmt=fmt, seed=1,
                             progress=False))
    return out


def decode_bound(folder: Path) -> float:
    """Pairs/s for decoding every lq+gt member already in memory (cv2, one core)."""
    from pipelines.codecs import decode_image

    members = []
    for tar_path in sorted(folder.glob("shard-*.tar")):
        with tarfile.open(tar_path) as tar:
            members += [(m.name.rsplit(".", 1)[1], tar.extractfile(m).read())
                        for m in tar.getmembers() if ".lq." in m.name or ".gt." in m.name]
    start = time.perf_counter()
    for fmt, data in members:
        decode_image(data, fmt)
    return (len(members) / 2) / (time.perf_counter() - start)


def loader_rate(folder: Path, workers: int, batches: int, batch_size: int = 16) -> float:
    from pipelines.reader import train_loader

    loader = train_loader(folder, batch_size=batch_size, patch=256, workers=workers, seed=0,
                          epoch_length=batches + 4, rank=0, world_size=1)
    iterator = iter(loader)
    for _ in range(4):  # start-up: workers forked, shuffle buffers filling
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    import torch

    torch.set_num_threads(1)  # targets are per core; extra intra-op threads only fight for the same cores
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=512)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--png", type=Path, default=None, help="an existing 256x256 PNG shard folder")
    parser.add_argument("--npy", type=Path, default=None, help="an existing 256x256 npy shard folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"png": args.png or build(Path(tmp) / "png", args.count, "png"),
                   "npy": args.npy or build(Path(tmp) / "npy", args.count, "npy")}
        print("read throughput, 256x256 pairs, batch 16, float32 tensors out, torch threads 1")
        print(f"{'format':6s} {'workers':>7s} {'pairs/s':>9s} {'bound':>9s} {'of bound':>9s}")
        for fmt, folder in folders.items():
            bound = decode_bound(folder)
            print(f"{fmt:6s} {'decode':>7s} {bound:9.0f} {bound:9.0f} {'100%':>9s}")
            for workers in (0, 1, 2):
                rate = loader_rate(folder, workers, args.batches)
                cores_bound = bound * max(1, workers)
                print(f"{fmt:6s} {workers:7d} {rate:9.0f} {cores_bound:9.0f} {100 * rate / cores_bound:8.0f}%")


if __name__ == "__main__":
    main()

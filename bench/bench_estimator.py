"""Estimator inference speed: images per second at 256x256 on one CPU core (torch threads 1).

An image is estimated the way `trainer estimate` does it: 8x8-grid-aligned tiles of the
training patch (128 by default: 4 tiles for 256x256), logits and levels averaged. Speed does
not depend on the weights, so without ESTIMATOR a freshly initialised default estimator over
the PROD pool is timed.

    .venv/bin/python bench/bench_estimator.py [ESTIMATOR] [--size 256] [--images 40] [--threads 1]

With --train-step it times instead one training step (forward and backward, 16 crops of the
training patch) with the activations laid out channels first and channels last, in
alternation, and prints the ratio: the layout `trainer estimator train` picks on the CPU.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from degrade.registry import CANONICAL_ORDER
from trainer.estimator.files import load_estimator
from trainer.estimator.inference import estimate_image
from trainer.estimator.model import DegradationEstimator, parameter_count
from trainer.estimator.training import EstimatorTrainConfig


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("estimator", nargs="?", help="run folder or .safetensors (optional)")
    parser.add_argument("--size", type=int, default=256, help="image side [256]")
    parser.add_argument("--images", type=int, default=40, help="images per repeat [40]")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats [3]")
    parser.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    parser.add_argument("--tile", type=int, default=None, help="tile (default: training patch)")
    parser.add_argument("--train-step", action="store_true",
                        help="time a training step in both memory layouts instead")
    return parser.parse_args()


def time_train_steps(model, repeats: int, patch: int) -> None:
    """Median seconds per training step in each layout, timed in alternation (shared machines
    drift; a ratio of interleaved runs does not)."""
    x = torch.rand(16, 3, patch, patch, generator=torch.Generator().manual_seed(0))
    layouts = {"channels first": torch.contiguous_format, "channels last": torch.channels_last}
    model.train()

    def step(layout):
        model.to(memory_format=layout)
        logits, levels, families = model.forward_with_families(x.contiguous(memory_format=layout))
        (logits.sum() + levels.sum() + families.sum()).backward()

    times = {name: [] for name in layouts}
    for name, layout in layouts.items():
        step(layout)  # warm-up
    for _ in range(repeats):
        for name, layout in layouts.items():
            start = time.perf_counter()
            step(layout)
            times[name].append(time.perf_counter() - start)
    first, last = (statistics.median(times[name]) for name in layouts)
    print(f"training step, 16 crops of {patch}x{patch}: channels first {1000 * first:.0f} ms, "
          f"channels last {1000 * last:.0f} ms (median of {repeats}): "
          f"channels last {first / last:.2f}x as fast")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.estimator:
        model, metadata = load_estimator(args.estimator)
        tile = args.tile or metadata.get("training", {}).get("patch", 64)
    else:
        model = DegradationEstimator(CANONICAL_ORDER).eval()
        tile = args.tile or EstimatorTrainConfig.patch  # the training default
    if args.train_step:
        time_train_steps(model, max(args.repeats, 10), args.tile or tile)
        return
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
              for _ in range(args.images)]
    estimate_image(model, images[0], tile)  # warm-up
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for image in images:
            estimate_image(model, image, tile)
        rates.append(args.images / (time.perf_counter() - start))
    print(f"estimator: {parameter_count(model):,} parameters, {len(model.ops)} ops, tile {tile}")
    print(f"{args.size}x{args.size}, {args.threads} thread(s): "
          f"{statistics.median(rates):.1f} images/s (median of {args.repeats}; "
          f"runs {', '.join(f'{r:.1f}' for r in rates)})")


if __name__ == "__main__":
    main()

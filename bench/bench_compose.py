"""Per-image cost of `--weights auto` (the estimator, the router and composing the task adapters'
weights, then the forward pass) against the plain forward of the base model.

Rows (--repeats timed passes each, in alternation so load changes hit every row alike; the
fastest and the median pass are shown):
  plain                  the base model alone, one image
  estimator              the degradation estimator on the image (grid-aligned tiles, averaged)
  compose + forward      new per-image weights for the adapters, then the forward pass
  auto (all of it)       estimator + router + compose + forward: what restore --weights auto
                         pays per image
The figure issue 12 asks for: auto / plain at 512x512 on one CPU core.

Adapters are CoLoRA adapters (7% budget) with random factors and the estimator is freshly
initialised unless --estimator is given: timing does not depend on the values.

    .venv/bin/python bench/bench_compose.py [--preset nafnet-tiny] [--size 512] [--adapters 4]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile

import numpy as np
import torch

from bench_adapters import carrying, make_adapters, timed
from trainer.numerics import flush_denormals


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="nafnet-tiny",
                        help="Base model preset [default: nafnet-tiny, the study's].")
    parser.add_argument("--size", type=int, default=512, help="Image side [default: 512].")
    parser.add_argument("--adapters", type=int, default=4, help="Task adapters [default: 4].")
    parser.add_argument("--estimator", help="A trained estimator [default: a fresh one].")
    parser.add_argument("--tile", type=int, default=64,
                        help="Estimator tile when no --estimator is given [default: 64].")
    parser.add_argument("--repeats", type=int, default=5, help="Timed passes per row [default: 5].")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads [default: 1].")
    return parser.parse_args()


def load_estimator(args):
    from degrade.registry import CANONICAL_ORDER
    from trainer.estimator.files import load_estimator as load
    from trainer.estimator.model import DegradationEstimator

    if args.estimator:
        model, metadata = load(args.estimator)
        return model, metadata.get("training", {}).get("patch", 64)
    torch.manual_seed(0)
    return DegradationEstimator(list(CANONICAL_ORDER)).eval(), args.tile


def build_rows(args, base, paths, estimator, tile):
    from trainer.adapters import set_adapters
    from trainer.routing import AdapterTask, Estimate, route
    from trainer.estimator.inference import estimate_image
    from trainer.tasks import TASKS

    image = np.random.default_rng(0).integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    plain = copy.deepcopy(base).eval()
    model, names = carrying(base, paths, "cpu")
    families = list(TASKS)
    tasks = [AdapterTask(n, TASKS[families[i % len(families)]]) for i, n in enumerate(names)]
    draws = np.random.default_rng(1)

    def compose_forward():
        set_adapters(model, names, draws.random(len(names)))
        return model(x)

    def auto():
        estimate = Estimate.from_op_estimates(estimate_image(estimator, image, tile))
        set_adapters(model, names, route(tasks, estimate))
        return model(x)

    return {"plain": lambda: plain(x), "estimator": lambda: estimate_image(estimator, image, tile),
            "compose + forward": compose_forward, "auto (all of it)": auto}


def main():
    flush_denormals()
    args = parse_args()
    torch.set_num_threads(args.threads)
    from trainer.models import create_model

    base = create_model(args.preset).eval()
    estimator, tile = load_estimator(args)
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        paths = make_adapters(base, args.adapters, folder)
        rows = build_rows(args, base, paths, estimator, tile)
        for run in rows.values():
            run()  # warm-up
        samples = {label: [] for label in rows}
        for _ in range(args.repeats):
            for label, run in rows.items():
                samples[label].append(timed("cpu", run))
    report(args, tile, samples)


def report(args, tile, samples) -> None:
    best = {label: min(times) for label, times in samples.items()}
    median = {label: statistics.median(times) for label, times in samples.items()}
    print(f"Per image, {args.preset} with {args.adapters} CoLoRA task adapters, "
          f"{args.size}x{args.size}, {args.threads} CPU thread(s), estimator tile {tile}, "
          f"{args.repeats} alternating passes, autograd off")
    print(f"{'row':<22} {'best ms':>9} {'vs plain':>9} {'median ms':>10} {'vs plain':>9}")
    for label in samples:
        print(f"{label:<22} {best[label] * 1e3:>9.1f} {best[label] / best['plain']:>9.2f} "
              f"{median[label] * 1e3:>10.1f} {median[label] / median['plain']:>9.2f}")
    print(f"--weights auto costs {best['auto (all of it)'] / best['plain']:.2f}x the plain "
          f"forward per image (best passes; median {median['auto (all of it)'] / median['plain']:.2f}x)")


if __name__ == "__main__":
    main()

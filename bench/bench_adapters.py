"""Forward time of a NAFNet carrying 1, 3 and 5 active adapters, against the plain and the
merged model, with batch-shared and per-image weights (inference, autograd off).

Rows (--repeats timed passes each, run in alternation so load changes hit every row alike; the
fastest and the median pass are shown):
  plain                    the base model, no adapter
  merged k                 the k adapters folded in by merge_and_unload (a plain model again)
  shared k                 k adapters active, one weight each for the batch, unmerged: the layers
                           compose their weights once and reuse them (what the target speaks of)
  shared k, new weights    the same with new weights at every pass: the composition is paid
  per-image k (batch B)    k adapters, one weight row per image of a batch of B
  composition alone k      composing the k adapters' weights in every layer, no convolution: the
                           whole cost of merging first, beside the plain pass
The target: with batch-shared weights, merging first costs at most 5% over the plain model at
batch 1, 512x512.

Adapters are CoLoRA adapters (7% budget, contribution-sized ranks from synthetic scores) with
random factors: timing does not depend on the values.

    .venv/bin/python bench/bench_adapters.py [--device cuda] [--preset P] [--size S]
    .venv/bin/python bench/bench_adapters.py --device cuda --per-image-batch 8   # the GPU run
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from trainer.adapters import (BudgetConfig, apply_plan, load_adapter, make_plan,
                              merge_and_unload, save_adapter, set_adapters, trainable_parameters)
from trainer.models import create_model
from trainer.numerics import flush_denormals

COUNTS = (1, 3, 5)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda [default: cpu].")
    parser.add_argument("--preset", help="[default: nafnet-sidd-w32 on cuda, nafnet-small on cpu]")
    parser.add_argument("--size", type=int, default=512, help="Image side [default: 512].")
    parser.add_argument("--per-image-batch", type=int, default=4,
                        help="Batch of the per-image rows [default: 4].")
    parser.add_argument("--repeats", type=int, default=5, help="Timed passes per row [default: 5].")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads [default: 1].")
    args = parser.parse_args()
    if args.preset is None:
        args.preset = "nafnet-sidd-w32" if args.device.startswith("cuda") else "nafnet-small"
    return args


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_adapters(base: torch.nn.Module, count: int, folder) -> list:
    """`count` CoLoRA adapter files of `base` with random factors and tuned values."""
    scores = {name: float(p.numel() % 7 + 1) for name, p in base.named_parameters()}
    paths = []
    for seed in range(count):
        model = copy.deepcopy(base)
        config = BudgetConfig(budget=0.07, seed=seed)
        apply_plan(model, make_plan(model, "colora", config, scores), config)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in trainable_parameters(model):
                param.add_(0.01 * torch.randn(param.shape, generator=generator))
        paths.append(save_adapter(f"{folder}/adapter{seed}.safetensors", model))
    return paths


def carrying(base, paths, device: str):
    """A copy of `base` with the adapters at `paths` loaded as a0, a1, ..."""
    model = copy.deepcopy(base)
    names = [f"a{i}" for i in range(len(paths))]
    for name, path in zip(names, paths):
        load_adapter(model, path, name)
    return model.to(device).eval(), names


_DRAWS = torch.Generator().manual_seed(0)


def fresh_weights(count: int) -> list[float]:
    return torch.rand(count, generator=_DRAWS).tolist()


def timed(device: str, run) -> float:
    sync(device)
    start = time.perf_counter()
    run()
    sync(device)
    return time.perf_counter() - start


def composition_rows(args, base, paths) -> dict:
    """{label: (callable composing every adapted layer's parameters, 1)} for each count."""
    from trainer.adapters import adapted_layers

    rows = {}
    for count in COUNTS:
        model, names = carrying(base, paths[:count], args.device)
        layers = [layer for layer in adapted_layers(model).values()]

        def compose(layers=layers, names=names, count=count):
            weights = fresh_weights(count)
            for layer in layers:
                mine = [(n, w) for n, w in zip(names, weights) if n in layer.adapter_names()]
                layer.composed([n for n, _ in mine], [w for _, w in mine])
        rows[f"composition alone {count}"] = (compose, 1)
    return rows


def build_rows(args, base, paths):
    """{row label: (callable running one pass, images per pass)}."""
    x1 = torch.rand(1, 3, args.size, args.size, device=args.device)
    xb = torch.rand(args.per_image_batch, 3, args.size, args.size, device=args.device)
    plain = copy.deepcopy(base).to(args.device).eval()
    rows = {"plain": (lambda: plain(x1), 1)}
    for count in COUNTS:
        weights = [1.0 / count] * count
        merged, names = carrying(base, paths[:count], "cpu")
        set_adapters(merged, names, weights)
        merged = merge_and_unload(merged).to(args.device).eval()
        shared, names = carrying(base, paths[:count], args.device)
        set_adapters(shared, names, weights)
        rows[f"merged {count}"] = (lambda m=merged: m(x1), 1)
        rows[f"shared {count}"] = (lambda m=shared: m(x1), 1)
        rows[f"shared {count}, new weights"] = (
            lambda m=shared, n=names, c=count: (set_adapters(m, n, fresh_weights(c)), m(x1)), 1)
        per_image, names = carrying(base, paths[:count], args.device)
        table = torch.rand(args.per_image_batch, count, generator=torch.Generator().manual_seed(count))
        set_adapters(per_image, names, table)
        rows[f"per-image {count} (batch {args.per_image_batch})"] = (
            lambda m=per_image: m(xb), args.per_image_batch)
    return rows


def main():
    flush_denormals()
    args = parse_args()
    torch.set_num_threads(args.threads)
    import tempfile

    base = create_model(args.preset).eval()
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        paths = make_adapters(base, max(COUNTS), folder)
        rows = {**build_rows(args, base, paths), **composition_rows(args, base, paths)}
        for run, _ in rows.values():  # warm-up (and the caches of the shared rows)
            run()
        samples = {label: [] for label in rows}
        for _ in range(args.repeats):
            for label, (run, _) in rows.items():
                samples[label].append(timed(args.device, run))
    report(args, rows, samples)


def report(args, rows, samples) -> None:
    """Per row: the fastest pass (least disturbed by other load on a shared machine) and the
    median, per image, and both against the plain model's."""
    best = {label: min(times) / rows[label][1] for label, times in samples.items()}
    median = {label: statistics.median(times) / rows[label][1] for label, times in samples.items()}
    print(f"Forward pass, {args.preset}, {args.size}x{args.size}, {args.device}"
          f" ({args.threads} thread(s) on CPU), {args.repeats} alternating passes, autograd off")
    print(f"{'row':<30} {'best ms/img':>12} {'vs plain':>9} {'median':>10} {'vs plain':>9}")
    for label in rows:
        print(f"{label:<30} {best[label] * 1e3:>12.1f} {best[label] / best['plain']:>9.3f} "
              f"{median[label] * 1e3:>10.1f} {median[label] / median['plain']:>9.3f}")
    worst = max(best[f"shared {c}"] / best["plain"] for c in COUNTS)
    verdict = "meets" if worst <= 1.05 else "misses"
    print(f"batch-shared weights, unmerged (best passes): at most {100 * (worst - 1):+.1f}% over "
          f"the plain model ({verdict} the 5% target)")

if __name__ == "__main__":
    main()

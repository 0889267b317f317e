"""FAIG cost, CoLoRA vs full fine-tuning step time and memory, tuned-parameter counts, file sizes.

Tables printed:
1. FAIG wall time (M steps over N images) against one forward+backward of the same model on one
   image in the same run (the ratio should be close to M * N).
2. Training step time and memory of CoLoRA and of full fine-tuning (same model, batch, patch);
   peak memory is measured on CUDA; on CPU the analytic gradient + AdamW state is shown.
3. Tuned parameters per method for nafnet-sidd-w32 beside the paper's figures.
4. Adapter vs model file size for nafnet-sidd-w32.

Defaults follow the issue on a GPU (nafnet-sidd-w32, M=100, 16 images of 256x256); on a CPU they
shrink (nafnet-small, M=5, 2 images of 64x64, batch 2 of 64x64) so the script ends in minutes.

    .venv/bin/python bench/bench_colora.py [--device cuda] [--preset P] [--steps M] [--images N]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from trainer.checkpoint import save_model
from trainer.adapters import (all_methods, apply_plan, get_method, make_plan, save_adapter,
                              trainable_parameters)
from trainer.faig import faig_scores
from trainer.finetune import faig_batch_size
from trainer.loop import LoopConfig, make_training, psnr_loss
from trainer.models import create_model
from trainer.numerics import flush_denormals

PAPER_COUNTS = {"decoder": 1.942e6, "lora": 2.442e6, "colora": 2.063e6, "full": 29.160e6}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", help="Model timed in tables 1-2 [cuda: nafnet-sidd-w32, "
                                         "cpu: nafnet-small].")
    parser.add_argument("--steps", type=int, help="FAIG M [cuda: 100, cpu: 5].")
    parser.add_argument("--images", type=int, help="FAIG images [cuda: 16, cpu: 2].")
    parser.add_argument("--size", type=int, help="FAIG image size [cuda: 256, cpu: 64].")
    parser.add_argument("--batch", type=int, help="Training batch [cuda: 8, cpu: 2].")
    parser.add_argument("--patch", type=int, help="Training patch [cuda: 256, cpu: 64].")
    parser.add_argument("--train-steps", type=int, default=5, help="Timed training steps.")
    parser.add_argument("--faig-batch", type=int,
                        help="Images per FAIG pass, timed beside one at a time [trainer's choice: "
                             "cuda 8, cpu 4].")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    defaults = dict(preset="nafnet-sidd-w32" if gpu else "nafnet-small", steps=100 if gpu else 5,
                    images=16 if gpu else 2, size=256 if gpu else 64, batch=8 if gpu else 2,
                    patch=256 if gpu else 64, faig_batch=faig_batch_size(args.device))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def perturbed(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """A stand-in target: every weight moved a little (timing does not depend on the values)."""
    target = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in target.parameters():
            param.add_(1e-3 * torch.randn(param.shape, generator=generator).to(param.device))
    return target


def images(count: int, size: int, device: str):
    generator = torch.Generator().manual_seed(0)
    gt = torch.rand(count, 3, size, size, generator=generator)
    lq = (gt + 0.05 * torch.randn(gt.shape, generator=generator)).clamp(0, 1)
    return [(lq[i:i + 1].to(device), gt[i:i + 1].to(device)) for i in range(count)]


def one_pass_times(args, model, lq, gt, repeats: int = 3) -> list[float]:
    """Seconds of single forward+backward passes (the reference FAIG is compared with)."""
    times = []
    for _ in range(repeats):
        sync(args.device)
        start = time.perf_counter()
        psnr_loss(model(lq), gt).backward()
        sync(args.device)
        times.append(time.perf_counter() - start)
    return times


def faig_table(args, model) -> dict:
    batches = images(args.images, args.size, args.device)
    target = perturbed(model)
    lq, gt = batches[0]
    psnr_loss(model(lq), gt).backward()  # warm-up
    before = one_pass_times(args, model, lq, gt)
    start = time.perf_counter()
    scores = faig_scores(model, target, batches, args.steps)
    sync(args.device)
    total = time.perf_counter() - start
    one = statistics.median(before + one_pass_times(args, model, lq, gt))
    model.zero_grad(set_to_none=True)
    print(f"\n1. FAIG on {args.preset}, {args.device}: M={args.steps}, {args.images} image(s) "
          f"of {args.size}x{args.size}")
    print(f"{'FAIG wall time':<28} {total:>10.2f} s")
    print(f"{'one forward+backward':<28} {one * 1e3:>10.1f} ms (median, before and after)")
    print(f"{'ratio (ideal M*N)':<28} {total / one:>10.0f}   ({args.steps * args.images})")
    if args.faig_batch > 1:
        stacked = [(torch.cat([lq for lq, _ in batches[i:i + args.faig_batch]]),
                    torch.cat([gt for _, gt in batches[i:i + args.faig_batch]]))
                   for i in range(0, len(batches), args.faig_batch)]
        start = time.perf_counter()
        faig_scores(model, target, stacked, args.steps)
        sync(args.device)
        batched = time.perf_counter() - start
        print(f"{f'FAIG, {args.faig_batch} images a pass':<28} {batched:>10.2f} s   "
              f"({total / batched:.2f}x faster than one at a time)")
    return scores


def make_method_training(args, model, method: str, scores):
    """(Training, trainable count) of one method on its own copy of the model."""
    model = copy.deepcopy(model)
    if method == "colora":
        apply_plan(model, make_plan(model, "colora", scores=scores))
    params = trainable_parameters(model)
    config = LoopConfig(steps=args.train_steps + 2, device=args.device, progress=False)
    return make_training(model, config, params), sum(p.numel() for p in params)


def timed_step(args, training, lq, gt) -> tuple[float, int]:
    """(seconds, peak bytes on CUDA else 0) of one optimizer step."""
    sync(args.device)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    training.step(lq, gt)
    sync(args.device)
    peak = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else 0
    return time.perf_counter() - start, peak


def training_table(args, model, scores) -> None:
    """Steps of full and CoLoRA alternate (A B A B ...) so load changes hit both alike."""
    methods = ("full", "colora")
    runs = {m: make_method_training(args, model, m, scores) for m in methods}
    generator = torch.Generator().manual_seed(0)
    gt = torch.rand(args.batch, 3, args.patch, args.patch, generator=generator)
    lq = (gt + 0.05 * torch.randn(gt.shape, generator=generator)).clamp(0, 1)
    samples = {m: [] for m in methods}
    for round_index in range(args.train_steps + 1):
        for method in methods:
            sample = timed_step(args, runs[method][0], lq, gt)
            if round_index:  # the first step allocates optimizer state: warm-up
                samples[method].append(sample)
    kind = "peak allocated" if args.device.startswith("cuda") else "grad+AdamW (analytic)"
    print(f"\n2. Fine-tuning step on {args.preset}, {args.device}: batch {args.batch} of "
          f"{args.patch}x{args.patch}, median of {args.train_steps} alternating steps")
    print(f"{'method':<8} {'ms/step':>10} {'vs full':>8} {kind:>24} {'trainable':>12}")
    medians = {m: statistics.median(t for t, _ in samples[m]) for m in methods}
    for method in methods:
        count = runs[method][1]
        memory = (max(p for _, p in samples[method]) if args.device.startswith("cuda")
                  else count * 4 * 3)  # grad + AdamW exp_avg + exp_avg_sq, float32
        print(f"{method:<8} {medians[method] * 1e3:>10.1f} {medians[method] / medians['full']:>8.2f} "
              f"{memory / 2**20:>21.1f} MB {count:>12,d}")


def quick_scores(model) -> dict:
    """FAIG of the w32 model against a perturbed copy, tiny M and images: enough for counting
    (the CoLoRA count is set by the budget; scores only distribute it)."""
    return faig_scores(model, perturbed(model), images(1, 32, "cpu"), steps=2)


def counts_and_sizes(scores_w32) -> None:
    model = create_model("nafnet-sidd-w32")
    scores = scores_w32 or quick_scores(model)
    print("\n3. Tuned parameters, nafnet-sidd-w32 (budget 7% for the low-rank methods)")
    print(f"{'method':<14} {'ours':>10} {'paper':>10} {'ours/paper':>11} {'% of model':>11}")
    plans = {}
    for spec in all_methods():
        plans[spec.name] = make_plan(model, spec.name, scores=scores)
        ours, paper = plans[spec.name].tuned_count, PAPER_COUNTS.get(spec.name)
        ratio = f"{ours / paper:>11.3f}" if paper else f"{'-':>11}"
        paper_text = f"{paper / 1e6:>9.3f}M" if paper else f"{'-':>10}"
        print(f"{spec.label:<14} {ours / 1e6:>9.3f}M {paper_text} {ratio} "
              f"{100 * ours / plans[spec.name].model_params:>10.2f}%")
    lora_ranks = set(plans["lora"].lora_ranks.values())
    print(f"(LoRA rank {max(lora_ranks)}; CoLoRA ranks {min(plans['colora'].lora_ranks.values())}"
          f"..{max(plans['colora'].lora_ranks.values())} over {len(plans['colora'].lora_ranks)} "
          f"layers, {len(plans['colora'].tuned_parameters)} bias/norm tensors)")
    file_sizes(model, plans)


def file_sizes(model, plans) -> None:
    with tempfile.TemporaryDirectory() as folder:
        model_path = save_model(Path(folder) / "model.safetensors", model)
        print("\n4. File sizes, nafnet-sidd-w32")
        print(f"{'model':<22} {model_path.stat().st_size / 1e6:>9.2f} MB")
        for method in ("decoder", "lora", "colora", "dora", "codora"):
            adapted = apply_plan(copy.deepcopy(model), plans[method])
            path = save_adapter(Path(folder) / f"{method}.safetensors", adapted)
            size = path.stat().st_size
            print(f"{get_method(method).label + ' adapter':<22} {size / 1e6:>9.2f} MB "
                  f"({100 * size / model_path.stat().st_size:.1f}% of the model)")


def main():
    flush_denormals()
    args = parse_args()
    torch.manual_seed(0)
    model = create_model(args.preset).to(args.device)
    scores = faig_table(args, model)
    training_table(args, model, scores)
    counts_and_sizes(scores if args.preset == "nafnet-sidd-w32" else None)


if __name__ == "__main__":
    main()

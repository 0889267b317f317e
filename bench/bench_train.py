"""Training throughput (images/s) and peak memory of `trainer.loop`'s real training step.

Each configuration runs in a fresh subprocess (clean peak-memory counters and compile caches)
on random batches of fixed shape, timing `--steps` steps after `--warmup` steps. Peak memory
is torch.cuda.max_memory_allocated on CUDA and the process's peak resident set (VmHWM) on CPU.

    # the issue's GPU table (reference: official NAFNet on one H100, fp32 113.5 img/s, 38.3 GiB)
    python bench/bench_train.py --model nafnet-sidd-w32 --batch 32 --patch 256 --device cuda
    # the small-preset CPU table
    python bench/bench_train.py --model nafnet-tiny --batch 4 --patch 64 --device cpu
    # fp32 vs bf16: validation PSNR after the same short training (same seed, same data)
    python bench/bench_train.py --compare-precision --model nafnet-tiny --steps 150

Configurations are named like "fp32", "bf16", "bf16+cl" (channels_last), "bf16+cl+compile".
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CONFIGS = "fp32,bf16,bf16+cl,bf16+cl+compile"
OFFICIAL_H100 = {"fp32": (113.5, 38.3), "bf16": (127.0, None), "bf16+compile": (149.0, None)}


def parse_config(name: str) -> dict:
    parts = name.split("+")
    amp = {"fp32": "none", "bf16": "bf16", "fp16": "fp16"}.get(parts[0])
    unknown = set(parts[1:]) - {"cl", "compile"}
    if amp is None or unknown:
        raise SystemExit(f"bad configuration {name!r}: use fp32|bf16|fp16 plus +cl, +compile")
    return {"amp": amp, "channels_last": "cl" in parts, "compile": "compile" in parts}


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM to current RSS
    except OSError:
        pass


def measure(args, name: str) -> dict:
    """Time one configuration in this process; returns {"img_s", "peak_gib", ...}."""
    import torch

    from trainer.loop import LoopConfig, make_training
    from trainer.models import create_model
    from trainer.numerics import flush_denormals

    flush_denormals()  # before the first parallel op: every pool thread keeps the mode it starts with
    torch.manual_seed(0)
    options = parse_config(name)
    config = LoopConfig(steps=args.warmup + args.steps, device=args.device, **options)
    training = make_training(create_model(args.model), config)
    lq = torch.rand(args.batch, 3, args.patch, args.patch)
    gt = torch.rand(args.batch, 3, args.patch, args.patch)
    cuda = training.device.type == "cuda"
    if cuda:
        lq, gt = lq.to(training.device), gt.to(training.device)
    for _ in range(args.warmup):
        training.step(lq, gt)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    began = time.perf_counter()
    for _ in range(args.steps):
        loss = training.step(lq, gt)
    float(loss)
    sync()
    seconds = time.perf_counter() - began
    peak = torch.cuda.max_memory_allocated() if cuda else peak_rss_bytes()
    return {"config": name, "img_s": args.batch * args.steps / seconds, "peak_gib": peak / 2**30,
            "memory": "allocated" if cuda else "peak RSS", "device": str(training.device)}


def run_isolated(args, name: str) -> dict:
    command = [sys.executable, __file__, "--single", name, "--model", args.model, "--batch",
               str(args.batch), "--patch", str(args.patch), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--device", args.device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"config": name, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(args, rows: list[dict]) -> None:
    base = next((r["img_s"] for r in rows if "img_s" in r), None)
    print(f"\n{args.model}, batch {args.batch}, {args.patch}x{args.patch}, "
          f"{rows[0].get('device', args.device)}, {args.steps} timed steps")
    print(f"{'config':<18}{'img/s':>9}{'x first':>9}{'peak GiB':>10}  memory")
    for row in rows:
        if "error" in row:
            print(f"{row['config']:<18} failed: {row['error']}")
            continue
        print(f"{row['config']:<18}{row['img_s']:>9.1f}{row['img_s'] / base:>9.2f}"
              f"{row['peak_gib']:>10.2f}  {row['memory']}")
    if args.device.startswith("cuda"):
        print("official NAFNet, H100, same shapes: fp32 113.5 img/s 38.3 GiB; bf16 127; "
              "bf16+compile 149 (target: >= 340 img/s in <= 19.2 GiB)")


# ---------------------------------------------------------------- fp32 vs bf16 quality

def smooth_batches(seed: int, batch: int, patch: int, sigma: float = 0.1):
    """batches(start): low-pass random images (gt) with Gaussian noise (lq), per batch index."""
    import torch
    import torch.nn.functional as F

    def make(index: int) -> dict:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
        coarse = torch.rand(batch, 3, patch // 8, patch // 8, generator=generator)
        gt = F.interpolate(coarse, size=(patch, patch), mode="bicubic",
                           align_corners=False).clamp(0, 1)
        lq = (gt + sigma * torch.randn(gt.shape, generator=generator)).clamp(0, 1)
        return {"lq": lq, "gt": gt}

    def source(start: int):
        index = start
        while True:
            yield make(index)
            index += 1
    return source


def compare_precision(args) -> None:
    import torch

    from trainer.loop import LoopConfig, fit
    from trainer.metrics import psnr
    from trainer.models import create_model
    from pipelines.batching import tensor_to_image

    held_out = [smooth_batches(10_000, 1, args.patch)(i).__next__() for i in range(8)]
    print(f"\n{args.model}: {args.steps} steps, batch {args.batch}, {args.patch}x{args.patch}, "
          f"denoising sigma 0.1, {args.device}; validation on 8 held-out images")
    print(f"{'precision':<10}{'val PSNR':>10}{'input PSNR':>12}{'seconds':>9}")
    for amp in ("none", "bf16"):
        torch.manual_seed(0)
        model = create_model(args.model)
        config = LoopConfig(steps=args.steps, amp=amp, device=args.device,
                            log_every=max(args.steps, 1), progress=False)
        began = time.perf_counter()
        fit(model, smooth_batches(0, args.batch, args.patch), config)
        model.eval()
        scores, inputs = [], []
        with torch.no_grad():
            for pair in held_out:
                out = model(pair["lq"].to(config.device)).float()
                gt = tensor_to_image(pair["gt"])
                scores.append(psnr(tensor_to_image(out), gt))
                inputs.append(psnr(tensor_to_image(pair["lq"]), gt))
        label = "fp32" if amp == "none" else amp
        print(f"{label:<10}{sum(scores) / 8:>10.2f}{sum(inputs) / 8:>12.2f}"
              f"{time.perf_counter() - began:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="nafnet-tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (or training steps)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default=None, help="cpu or cuda [default: cuda if present]")
    parser.add_argument("--configs", default=None,
                        help=f"comma-separated [default: {DEFAULT_CONFIGS} on CUDA, "
                             f"fp32,bf16,fp32+cl on CPU]")
    parser.add_argument("--compare-precision", action="store_true",
                        help="train fp32 and bf16 the same way and compare validation PSNR")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.single:
        print(json.dumps(measure(args, args.single)))
        return
    if args.compare_precision:
        compare_precision(args)
        return
    configs = args.configs or (DEFAULT_CONFIGS if args.device.startswith("cuda")
                               else "fp32,bf16,fp32+cl")
    print_table(args, [run_isolated(args, name) for name in configs.split(",")])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

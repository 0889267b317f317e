"""Does a busy neighbour make training crawl? Step time per torch thread setting, alone and beside
CPU-bound busy loops.

Each configuration runs in a fresh process (torch reads OMP_NUM_THREADS and OMP_WAIT_POLICY at
start-up) and times training steps of the demo's model and batch. Then the same again with
`--busy` busy-loop processes running. A fair result slows down by no more than the share of the
CPU the neighbours take: with C cores, B busy loops and T threads, the step can use at most
min(T, C) cores alone and, scheduled fairly, C * T / (T + B) of them beside the loops (capped at
T); the "fair" column is that ratio. Thread pools that spin or wait at barriers for a
descheduled thread slow down far more (one case measured 100x).

Example:
  python bench/bench_threads.py                  # demo sizes, 1 busy loop
  python bench/bench_threads.py --busy 2 --steps 20
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (  # (label, environment)
    ("1 thread", {"OMP_NUM_THREADS": "1"}),
    ("2 threads", {"OMP_NUM_THREADS": "2"}),
    ("2 threads, passive wait", {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}),
    ("all cores", {}),
)

STEP_SCRIPT = """
import json, sys, time, torch
from trainer.models import create_model
model, batch, patch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
net = create_model(model)
opt = torch.optim.AdamW(net.parameters(), 1e-3)
x = torch.rand(batch, 3, patch, patch)
def step():
    loss = (net(x) - x).abs().mean(); loss.backward(); opt.step(); opt.zero_grad()
for _ in range(3):
    step()
began = time.perf_counter()
for _ in range(steps):
    step()
print(json.dumps({"ms": 1000 * (time.perf_counter() - began) / steps,
                  "threads": torch.get_num_threads()}))
"""


def busy_loop() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def time_steps(env_changes: dict, model: str, batch: int, patch: int, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(env_changes)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", STEP_SCRIPT, model, str(batch), str(patch),
                           str(steps)], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fair_slowdown(threads: int, busy: int, cores: int) -> float:
    alone = min(threads, cores)
    beside = min(threads, cores * threads / (threads + busy))
    return alone / beside


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", default="nafnet-small", show_default=True, help="Model preset (the demo's).")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--patch", type=click.IntRange(min=8), default=64, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Timed steps per configuration (after 3 warm-up steps).")
@click.option("--busy", type=click.IntRange(min=1), default=1, show_default=True,
              help="Busy-loop processes beside the training in the second pass.")
def main(model, batch, patch, steps, busy):
    """Training step time per thread setting, alone and beside busy loops."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    click.echo(f"{model}, batch {batch} of {patch}x{patch}, {steps} steps; {cores} cores, "
               f"1-min load {load:.1f} before the runs")
    click.echo(f"{'configuration':<26} {'threads':>7} {'alone ms':>9} {'busy ms':>9} "
               f"{'slowdown':>9} {'fair':>6}")
    for label, env_changes in CONFIGS:
        alone = time_steps(env_changes, model, batch, patch, steps)
        loops = [busy_loop() for _ in range(busy)]
        try:
            time.sleep(0.5)
            beside = time_steps(env_changes, model, batch, patch, steps)
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
        slowdown = beside["ms"] / alone["ms"]
        fair = fair_slowdown(alone["threads"], busy, cores)
        click.echo(f"{label:<26} {alone['threads']:>7} {alone['ms']:>9.0f} {beside['ms']:>9.0f} "
                   f"{slowdown:>8.2f}x {fair:>5.2f}x" + ("" if slowdown <= 1.15 * fair else "  <- over"))
    if load > cores:
        click.echo(f"The machine was already loaded (1-min load {load:.1f} on {cores} cores): 'fair' "
                   "assumes it idle, and with autogroup scheduling a busy loop started here takes "
                   "half of this session's share, so up to 2x is fair; compare the rows.")


if __name__ == "__main__":
    main()

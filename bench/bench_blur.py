"""Time gaussian_blur and motion_blur against their BasicSR-style references, one thread.

Prints, per kernel family and size, the median ms per image of the engine (the op's apply:
kernel generation, planning and filtering) and of bench/reference_blur.py (full 2-D kernel,
one cv2.filter2D), their ratio, and the worst disagreement in 1/255 units.

    .venv/bin/python bench/bench_blur.py [--images 256 512] [--draws 6] [--repeats 5] [--clock cpu]
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_blur import reference_gaussian_blur, reference_motion_blur  # noqa: E402

from degrade.blur import GAUSSIAN_BLUR  # noqa: E402
from degrade.motion import MOTION_BLUR, sample_trajectory  # noqa: E402

GAUSSIAN_ROWS = [(family, isotropic, size) for family in ("gaussian", "generalized", "plateau")
                 for isotropic in (True, False) for size in (7, 13, 21)]
MOTION_SIZES = (9, 19, 31)


def gaussian_params(rng, family: str, isotropic: bool, size: int) -> dict:
    sigma_x = float(rng.uniform(0.2, 3.0))
    sigma_y = sigma_x if isotropic else float(rng.uniform(0.2, 3.0))
    theta = 0.0 if isotropic else float(rng.uniform(-math.pi, math.pi))
    beta = {"gaussian": 1.0, "generalized": float(rng.uniform(0.5, 4.0)),
            "plateau": float(rng.uniform(1.0, 2.0))}[family]
    return {"family": family, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y,
            "theta": theta, "beta": beta}


def motion_params(rng, size: int) -> dict:
    return {"size": size, "points": np.round(sample_trajectory(rng, size), 3).tolist()}


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
clock = time.thread_time


def paired_median_ms(engine, reference, image, params_list, repeats: int) -> tuple[float, float]:
    """Median ms of each, calls interleaved so that load from other processes hits both alike."""
    ours, theirs = [], []
    for params in params_list:
        engine(image, params)  # warm caches and compiled code
        reference(image, params)
        for _ in range(repeats):
            start = clock()
            engine(image, params)
            middle = clock()
            reference(image, params)
            ours.append(middle - start)
            theirs.append(clock() - middle)
    return 1e3 * float(np.median(ours)), 1e3 * float(np.median(theirs))


def worst_difference(image, params_list, engine, reference) -> float:
    return max(float(np.abs(engine(image, p) - reference(image, p)).max())
               for p in params_list) * 255


def row(label, side, image, params_list, engine, reference, repeats) -> str:
    ours, theirs = paired_median_ms(engine, reference, image, params_list, repeats)
    diff = worst_difference(image, params_list, engine, reference)
    return (f"{label:<26} {side:>5} {ours:>9.2f} {theirs:>9.2f} {theirs / ours:>7.2f}x"
            f" {diff:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--draws", type=int, default=6, help="parameter draws per row")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per draw")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this thread's CPU time (default; on a shared machine wall "
                             "time mostly measures the neighbours); wall: elapsed time")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    print(f"{'kernel':<26} {'image':>5} {'engine':>9} {'reference':>9} {'ratio':>8}"
          f" {'max|d|/255':>9}")
    for side in args.images:
        image = rng.random((side, side, 3), dtype=np.float32)
        for family, isotropic, size in GAUSSIAN_ROWS:
            draws = [gaussian_params(rng, family, isotropic, size) for _ in range(args.draws)]
            label = f"{family} {'iso' if isotropic else 'aniso'} {size}x{size}"
            print(row(label, side, image, draws, GAUSSIAN_BLUR.apply, reference_gaussian_blur,
                      args.repeats), flush=True)
        for size in MOTION_SIZES:
            draws = [motion_params(rng, size) for _ in range(args.draws)]
            print(row(f"motion {size}x{size}", side, image, draws, MOTION_BLUR.apply,
                      reference_motion_blur, args.repeats), flush=True)
        sampled = [GAUSSIAN_BLUR.sample_params(rng, image.shape) for _ in range(4 * args.draws)]
        print(row("gaussian_blur (sampled)", side, image, sampled, GAUSSIAN_BLUR.apply,
                  reference_gaussian_blur, args.repeats), flush=True)
        sampled = [MOTION_BLUR.sample_params(rng, image.shape) for _ in range(4 * args.draws)]
        print(row("motion_blur (sampled)", side, image, sampled, MOTION_BLUR.apply,
                  reference_motion_blur, args.repeats), flush=True)


if __name__ == "__main__":
    main()

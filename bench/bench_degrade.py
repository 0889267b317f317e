"""Time every PROD op and full PROD chains against BasicSR-style references, on one core.

Per op: median ms per image of the engine's op.apply (float32 RGB in, out) and of the
reference (bench/reference_ops.py for noise, JPEG and rain; bench/reference_blur.py for the
blurs) over the same sampled params. Chains: degrade.chain.degrade on a uint8 image (drawing
the chain, converting, applying every op) against the reference ops applied to the same
records with numpy uint8 <-> float conversions. Numba, OpenCV and BLAS run on one thread, so
the ratios are per core.

    .venv/bin/python bench/bench_degrade.py [--sizes 256 512] [--draws 12] [--chains 40] [--clock cpu]
        [--ops gaussian_noise,jpeg] [--no-chain]
"""
from __future__ import annotations

import os

# One thread everywhere, whatever the caller's environment says, so the ratios are per core.
for _variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_blur import REFERENCES as BLUR_REFERENCES  # noqa: E402
from reference_ops import REFERENCES as OP_REFERENCES  # noqa: E402

from degrade.chain import degrade  # noqa: E402
from degrade.registry import CANONICAL_ORDER, OPS  # noqa: E402

REFERENCES = {**OP_REFERENCES, **BLUR_REFERENCES}
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def test_image(size: int) -> np.ndarray:
    """A natural photograph (scikit-image's astronaut) resized to size x size, uint8 RGB."""
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def paired_median_ms(engine, reference, arguments: list, clock, repeats: int) -> tuple[float, float]:
    """Median ms of engine(*args) and reference(*args) over arguments and repeats. The two are
    timed alternately, call by call, so load from other processes hits both alike."""
    engine(*arguments[0])
    reference(*arguments[0])
    engine_times, reference_times = [], []
    for _ in range(repeats):
        for args in arguments:
            for function, times in ((engine, engine_times), (reference, reference_times)):
                start = clock()
                function(*args)
                times.append(clock() - start)
    return 1e3 * statistics.median(engine_times), 1e3 * statistics.median(reference_times)


def reference_chain(image: np.ndarray, record: dict) -> np.ndarray:
    rgb = image.astype(np.float32) / 255.0
    for step in record["ops"]:
        rgb = REFERENCES[step["name"]](rgb, step["params"])
    return np.clip((rgb * 255.0).round(), 0, 255).astype(np.uint8)


def op_rows(image: np.ndarray, names: list[str], draws: int, repeats: int, clock) -> list[tuple]:
    rgb = image.astype(np.float32) / 255
    rows = []
    for name in names:
        rng = np.random.default_rng(7)
        params = [OPS[name].sample_params(rng, image.shape) for _ in range(draws)]
        engine, reference = paired_median_ms(OPS[name].apply, REFERENCES[name],
                                             [(rgb, p) for p in params], clock, repeats)
        rows.append((name, engine, reference))
    return rows


def chain_row(image: np.ndarray, chains: int, repeats: int, clock) -> tuple:
    pool = list(CANONICAL_ORDER)
    seeds = list(range(chains))
    records = {seed: degrade(image, seed, pool, 6)[1] for seed in seeds}
    engine, reference = paired_median_ms(lambda seed: degrade(image, seed, pool, 6),
                                         lambda seed: reference_chain(image, records[seed]),
                                         [(s,) for s in seeds], clock, repeats)
    mean_length = np.mean([len(r["ops"]) for r in records.values()])
    return (f"PROD chain K=7 N=6 (mean L={mean_length:.1f})", engine, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--draws", type=int, default=12, help="param draws per op")
    parser.add_argument("--chains", type=int, default=40, help="PROD chains per size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ops", default=",".join(CANONICAL_ORDER),
                        help="comma-separated ops to time one by one")
    parser.add_argument("--no-chain", action="store_true", help="skip the full PROD chains")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: this thread's CPU time (robust on a shared machine); wall")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    clock = CLOCKS[args.clock]
    print(f"median ms per image, one thread, clock={args.clock}")
    print(f"{'size':>5}  {'op':<36} {'engine':>8} {'reference':>10} {'speed-up':>9}")
    for size in args.sizes:
        image = test_image(size)
        rows = op_rows(image, args.ops.split(","), args.draws, args.repeats, clock)
        if not args.no_chain:
            rows.append(chain_row(image, args.chains, args.repeats, clock))
        for name, engine, reference in rows:
            print(f"{size:>5}  {name:<36} {engine:8.2f} {reference:10.2f} {reference / engine:8.1f}x",
                  flush=True)


if __name__ == "__main__":
    main()

"""How far an estimator's levels reach: single-op images at set strengths, inside and beyond the
range PROD samples, and what the estimator reports for them.

For each op whose strength can be set (Gaussian noise sigma, JPEG quality), degrades centre crops
of the given photographs at each value of a sweep (the level-adapter study's: sigma 5..75, quality
10..90) and prints, per value and estimator: the mean value the estimator reports for that op in
its natural unit, the mean absolute error, and the mean probability it gives the op. An estimator
whose levels stop at the sampled range (sigma 30, quality 30) flattens there: `--level auto`
inherits it.

Example:
  python bench/estimator_levels.py /work/shared/data/cbsd68 \
      --estimator /work/artifacts/estimator --estimator /work/artifacts/estimator-v4
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SWEEPS = {"gaussian_noise": tuple(range(5, 80, 5)), "jpeg": tuple(range(10, 100, 10))}


def centre_crops(folder: Path, count: int, side: int, shift: int = 0) -> list[np.ndarray]:
    """Central side x side crops of the first `count` images of `folder`, their corner `shift`
    px past a multiple of 8: at 0 on the 8x8 grid of a JPEG source (as re-saving it keeps
    it), else off it (as cropping does)."""
    from pipelines.sources import find_sources, load_image

    files = find_sources(folder)
    if not files:
        raise click.BadParameter(f"{folder}: no images", param_hint="SRC")
    crops = []
    for path in files[:count]:
        image = load_image(path)
        top = (image.shape[0] - side - shift) // 2 // 8 * 8 + shift
        left = (image.shape[1] - side - shift) // 2 // 8 * 8 + shift
        crops.append(np.ascontiguousarray(image[top:top + side, left:left + side]))
    return crops


def sweep(model, tile: int, op: str, values, crops) -> list[tuple[float, float, float, float]]:
    """(value, mean estimate, MAE, mean probability) per value, in natural units."""
    from trainer.estimator.inference import estimate_image
    from trainer.finetune.level_data import degrade_at

    rows = []
    for value in values:
        reported, probability = [], []
        for index, crop in enumerate(crops):
            degraded = degrade_at(crop, op, float(value), seed=index)
            estimate = {e.op: e for e in estimate_image(model, degraded, tile)}[op]
            reported.append(estimate.value)
            probability.append(estimate.probability)
        reported = np.asarray(reported)
        rows.append((float(value), float(reported.mean()),
                     float(np.abs(reported - value).mean()), float(np.mean(probability))))
    return rows


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--estimator", "estimators", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path),
              help="An estimator run folder or .safetensors (repeat to compare).")
@click.option("--count", type=int, default=24, show_default=True, help="Photographs used.")
@click.option("--side", type=int, default=128, show_default=True, help="Centre crop side.")
def main(src, estimators, count, side):
    """Estimated against true level for single-op images of SRC's photographs."""
    import torch

    from trainer.estimator.files import load_estimator

    torch.set_num_threads(1)
    crops = centre_crops(src, count, side)
    loaded = []
    for path in estimators:
        model, metadata = load_estimator(path)
        loaded.append((path, model.eval(), metadata.get("training", {}).get("patch", 64)))
    print(f"{len(crops)} centre crops of {side} px from {src}; one thread")
    for op, values in SWEEPS.items():
        results = [sweep(model, tile, op, values, crops) for _, model, tile in loaded]
        header = " | ".join(f"{p.name}: mean / MAE / p" for p, _, _ in loaded)
        print(f"\n{op}\n| value | {header} |\n|---|" + "---|" * len(loaded))
        for position, value in enumerate(values):
            cells = " | ".join(f"{r[position][1]:.1f} / {r[position][2]:.1f} / "
                               f"{r[position][3]:.2f}" for r in results)
            print(f"| {value} | {cells} |")
        for (path, _, _), rows in zip(loaded, results):
            print(f"{path.name}: {op} MAE over the sweep {np.mean([r[2] for r in rows]):.2f}")


if __name__ == "__main__":
    main()

"""A noise threshold for photographs, chosen on clean photographs alone: what does it report on
PolyU's real noise?

The estimator's probabilities are calibrated on synthetic chains, where noise is usually strong;
a photograph's faint noise gets low ones (docs/estimator.md, PolyU). A threshold can instead be
set where a chosen share of clean photographs would be called noisy, which needs no noisy
photograph at all. This scores CLEAN's photographs as they are and under JPEG at the qualities
cameras save at, sets the noise threshold at the --false-positive share of them (all variants
together, and the camera-quality variants 60 and 75 alone), then prints how many of CHECK's
clean photographs (another set) each threshold calls noisy, per variant, and how many of
PolyU's noisy shots and of their references.

Example:
  python bench/estimator_photo_threshold.py /work/shared/data/bsds500/val \\
      --check /work/shared/data/bsds500/test --estimator runs/estimator \\
      --polyu /work/shared/data/polyu_real_noise
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.estimator_polyu_twin import polyu_folder  # noqa: E402 (after the path setup)

QUALITIES = (95, 90, 75, 60)
CAMERA_QUALITIES = ("jpeg 75", "jpeg 60")  # PolyU's camera saved at 75


def variant_scores(model, folder: Path, tile: int, count: int) -> dict[str, np.ndarray]:
    """{variant: noise scores} for the photographs of `folder`: as they are, and each quality."""
    from bench.estimator_polyu_twin import noise_score
    from pipelines.sources import find_sources, load_image
    from trainer.finetune.level_data import degrade_at

    paths = find_sources(folder)[:count]
    if not paths:
        raise click.BadParameter(f"{folder}: no images", param_hint="folder")
    scores: dict[str, list[float]] = {"as they are": []}
    with click.progressbar(paths, label=f"scoring {folder}", file=sys.stderr) as bar:
        for seed, path in enumerate(bar):
            image = load_image(path)
            scores["as they are"].append(noise_score(model, image, tile))
            for quality in QUALITIES:
                scores.setdefault(f"jpeg {quality}", []).append(
                    noise_score(model, degrade_at(image, "jpeg", quality, seed=seed), tile))
    return {variant: np.array(values) for variant, values in scores.items()}


def polyu_scores(model, folder: Path, tile: int) -> tuple[np.ndarray, np.ndarray]:
    from bench.estimator_polyu_twin import noise_score
    from pipelines.sources import find_sources, load_image

    noisy, references = [], []
    with click.progressbar(find_sources(folder / "lq"), label=f"scoring {folder}",
                           file=sys.stderr) as bar:
        for path in bar:
            noisy.append(noise_score(model, load_image(path), tile))
            references.append(noise_score(model, load_image(folder / "gt" / path.name), tile))
    return np.array(noisy), np.array(references)


def set_thresholds(calibration: dict[str, np.ndarray], false_positive: float) -> dict[str, float]:
    """{name: threshold}: the default, and the thresholds that call `false_positive` of the
    calibration photographs noisy (all variants together; the camera qualities alone)."""
    def at_share(scores: np.ndarray) -> float:
        return float(np.quantile(scores, 1 - false_positive))

    return {"0.5 (the default)": 0.5,
            "all variants": at_share(np.concatenate(list(calibration.values()))),
            "camera qualities (jpeg 75, 60)": at_share(
                np.concatenate([calibration[v] for v in CAMERA_QUALITIES]))}


@click.command()
@click.argument("clean", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--check", type=click.Path(exists=True, file_okay=False, path_type=Path),
              required=True, help="Other clean photographs, to check the false-positive share.")
@click.option("--estimator", "estimator_path", required=True,
              type=click.Path(exists=True, path_type=Path), help="An estimator run or file.")
@click.option("--polyu", type=click.Path(exists=True, file_okay=False, path_type=Path),
              required=True, callback=polyu_folder, help="The PolyU folder (lq/, gt/).")
@click.option("--false-positive", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Share of clean photographs called noisy.")
@click.option("--count", type=int, default=100, show_default=True,
              help="Photographs used from each clean folder.")
def main(clean, check, estimator_path, polyu, false_positive, count):
    """Noise thresholds set on CLEAN's photographs; what they report elsewhere."""
    import torch

    from trainer.estimator.files import load_estimator

    torch.set_num_threads(1)
    model, metadata = load_estimator(estimator_path)
    tile = metadata.get("training", {}).get("patch", 128)
    calibration = variant_scores(model, clean, tile, count)
    checked = variant_scores(model, check, tile, count)
    noisy, references = polyu_scores(model, polyu, tile)
    thresholds = set_thresholds(calibration, false_positive)
    print(f"{estimator_path}: thresholds at {false_positive:.0%} of {len(calibration['jpeg 75'])} "
          f"clean photographs of {clean} (as they are and under JPEG {QUALITIES}) called noisy;"
          f" checked on {check}; one thread\n")
    variants = list(checked)
    print("| threshold set on | threshold | " + " | ".join(f"{check.name} {v}" for v in variants)
          + " | PolyU noisy | PolyU references |\n|" + "---|" * (len(variants) + 4))
    for name, threshold in thresholds.items():
        shares = " | ".join(f"{(checked[v] >= threshold).mean():.2f}" for v in variants)
        print(f"| {name} | {threshold:.3f} | {shares} | {(noisy >= threshold).mean():.2f} | "
              f"{(references >= threshold).mean():.2f} |")
    print(f"\nPolyU's noisy shots: median noise score {np.median(noisy):.3f}; references "
          f"{np.median(references):.3f}.")


if __name__ == "__main__":
    main()

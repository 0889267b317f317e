"""PolyU's synthetic twin: does the estimator find faint noise under JPEG quality 75 when the
noise is synthetic?

The PolyU pairs in ../shared/data are JPEG files at quality 75 (noisy shot and clean reference
alike), and their noise is faint: lq - gt has a standard deviation of about 4 (0-255) in the
median pair. An estimator that misses PolyU's noise might miss real noise (a domain gap) or any
noise that faint under that JPEG (a limit it also has on its own synthetic data). This prints,
for centre crops of clean photographs: noise of sigma S, then JPEG quality 75 (as PolyU),
against the same crops under JPEG 75 alone, with white Gaussian noise (the pool's op) and with
a camera's noise as PolyU's measures (trainer.estimator.camera: neighbours correlated by a
0.75 px Gaussian, 35% of it per channel); per S, the standard deviation of the difference
(PolyU's own figure of faintness), the mean noise-family score (the estimator's noise family
output, or its highest noise-op probability), the share at or above 0.5, and the AUROC of
noisy above clean.

Each row also carries a model-free measure of the noise left where an image is flattest, to tell
what any blind detector could see from what this estimator sees: per image, the 5th percentile
over its 8x8 grid blocks (grey, blocks touching 5 or 250 left out: clipping hides noise) of the
standard deviation left after a plane fit; the median over images. PolyU's rows compare its noisy
shots with their references (the mean of many shots, cleaner than any single photograph) and
with SRC's clean crops under JPEG 75 alone (clean photographs at the camera's quality). A last
table gives the other side of any threshold: SRC's clean crops under JPEG alone at the qualities
cameras save at, how many of them the estimator calls noisy, and how many it finds JPEG in; the
crops on the 8x8 grid of their JPEG sources (a photograph re-saved) and 4 px off it (cropped).

Example:
  python bench/estimator_polyu_twin.py /work/shared/data/cbsd68 \\
      --estimator /work/artifacts/estimator-v4 --polyu /work/shared/data/polyu_real_noise
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SIGMAS = (2, 3, 4, 5, 6, 8, 10)
QUALITY = 75
CLEAN_QUALITIES = (60, 75, 85, 88, 89, 90, 91, 92, 95, 97)  # cameras save at 75-98
POLYU_SPREAD, POLYU_CHROMA = 0.75, 0.35  # PolyU's lag-1 correlation 0.64, 23% off grey
NOISE_OPS = ("gaussian_noise", "poisson_noise", "speckle_noise")


def polyu_folder(context, parameter, folder: Path | None) -> Path | None:
    """A click callback: a PolyU folder must hold lq/ and gt/."""
    missing = [name for name in ("lq", "gt") if folder is not None and not (folder / name).is_dir()]
    if missing:
        raise click.BadParameter(f"{folder}: no {' or '.join(m + '/' for m in missing)} inside "
                                 "(a PolyU folder holds lq/ and gt/)")
    if folder is not None:  # images only: a README beside them is not an unpaired shot
        from pipelines.sources import find_sources

        unpaired = sorted({p.name for p in find_sources(folder / "lq")}
                          - {p.name for p in find_sources(folder / "gt")})
        if unpaired:
            raise click.BadParameter(f"{folder / 'lq' / unpaired[0]}: no reference of that name "
                                     f"in {folder / 'gt'} ({len(unpaired)} unpaired)")
    return folder


def noise_score(model, image: np.ndarray, tile: int) -> float:
    """The estimator's noise family output, or (estimators without one) its most probable
    noise op."""
    from trainer.estimator.inference import estimate_image_with_families

    estimates, families = estimate_image_with_families(model, image, tile)
    if "noise" in families:
        return families["noise"]
    return max(e.probability for e in estimates if e.op in NOISE_OPS)


def jpeg_probability(model, image: np.ndarray, tile: int) -> float:
    from trainer.estimator.inference import estimate_image

    return next(e.probability for e in estimate_image(model, image, tile) if e.op == "jpeg")


def flattest_blocks(image: np.ndarray, block: int = 8, percentile: float = 5.0) -> float:
    """The noise left where `image` is flattest: the `percentile` over its block x block grid
    blocks (unclipped ones) of the residual standard deviation after a plane fit, on 0-255 grey."""
    grey = image.astype(np.float64).mean(axis=2)
    rows, cols = grey.shape[0] // block, grey.shape[1] // block
    blocks = (grey[:rows * block, :cols * block].reshape(rows, block, cols, block)
              .transpose(0, 2, 1, 3).reshape(-1, block * block))
    y, x = np.mgrid[0:block, 0:block]
    design = np.c_[np.ones(block * block), y.ravel(), x.ravel()]
    residual = blocks - blocks @ (design @ np.linalg.pinv(design)).T
    unclipped = (blocks.max(axis=1) < 250) & (blocks.min(axis=1) > 5)
    if not unclipped.any():
        return float("nan")
    return float(np.percentile(residual[unclipped].std(axis=1), percentile))


def auroc(positives, negatives) -> float:
    """AUROC of `positives` scored above `negatives` (the estimator's own scorer)."""
    from trainer.estimator.scoring import auroc as scored

    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    return float(scored(labels, np.r_[positives, negatives]))


def flat_auroc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """`auroc` of flattest-block figures, images without one (all blocks clipped) left out."""
    return auroc(positives[~np.isnan(positives)], negatives[~np.isnan(negatives)])


def polyu_rows(model, folder: Path, tile: int, photographs: np.ndarray,
               photographs_flat: np.ndarray) -> list[str]:
    """PolyU's noisy shots scored above their references and above clean photographs
    (`photographs`: their noise scores, `photographs_flat`: their flattest-block figures)."""
    from pipelines.sources import find_sources, load_image

    scores, spreads, references, flat, references_flat = [], [], [], [], []
    for path in find_sources(folder / "lq"):
        noisy, clean = load_image(path), load_image(folder / "gt" / path.name)
        spreads.append(np.std(noisy.astype(np.float64) - clean))
        scores.append(noise_score(model, noisy, tile))
        references.append(noise_score(model, clean, tile))
        flat.append(flattest_blocks(noisy))
        references_flat.append(flattest_blocks(clean))
    scores, references = np.array(scores), np.array(references)
    flat, references_flat = np.array(flat), np.array(references_flat)
    pairs = f"PolyU (real, {len(scores)} pairs)"
    return [
        f"| {pairs}, above their references | {np.median(spreads):.1f} | "
        f"{scores.mean():.3f} | {(scores >= 0.5).mean():.2f} | "
        f"{auroc(scores, references):.3f} | {np.nanmedian(flat):.2f} "
        f"(references {np.nanmedian(references_flat):.2f}) | "
        f"{flat_auroc(flat, references_flat):.3f} |",
        f"| {pairs}, above the clean photographs | - | {scores.mean():.3f} | "
        f"{(scores >= 0.5).mean():.2f} | {auroc(scores, photographs):.3f} | "
        f"{np.nanmedian(flat):.2f} | "
        f"{flat_auroc(flat, photographs_flat):.3f} |",
        "",
        f"A threshold at PolyU's median noisy score ({np.median(scores):.3f}) reports half of its "
        f"noisy shots as noisy, {(references >= np.median(scores)).mean():.0%} of their references "
        f"and {(photographs >= np.median(scores)).mean():.0%} of the clean photographs.",
    ]


def clean_jpeg_rows(model, tile: int, on_grid: list[np.ndarray],
                    off_grid: list[np.ndarray]) -> list[str]:
    """The table of clean crops under JPEG alone at CLEAN_QUALITIES, on and off their JPEG
    sources' grid: noise score and JPEG probability, mean and share at or above 0.5."""
    from trainer.finetune.level_data import degrade_at

    rows = ["| clean, JPEG alone at quality | crops | mean noise score | share >= 0.5 | "
            "mean JPEG probability | share >= 0.5 |", "|---|---|---|---|---|---|"]
    for quality in CLEAN_QUALITIES:
        for placement, clean in (("on the source's grid", on_grid), ("4 px off it", off_grid)):
            images = [degrade_at(crop, "jpeg", quality, seed=i) for i, crop in enumerate(clean)]
            scores = np.array([noise_score(model, image, tile) for image in images])
            jpeg = np.array([jpeg_probability(model, image, tile) for image in images])
            rows.append(f"| {quality} | {placement} | {scores.mean():.3f} | "
                        f"{(scores >= 0.5).mean():.2f} | {jpeg.mean():.3f} | "
                        f"{(jpeg >= 0.5).mean():.2f} |")
    return rows


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--estimator", "estimator_path", required=True,
              type=click.Path(exists=True, path_type=Path), help="An estimator run or file.")
@click.option("--polyu", type=click.Path(exists=True, file_okay=False, path_type=Path),
              callback=polyu_folder, help="The PolyU folder (lq/, gt/), for its own row.")
@click.option("--count", type=int, default=32, show_default=True, help="Photographs used.")
@click.option("--side", type=int, default=256, show_default=True, help="Centre crop side.")
def main(estimator_path, src, polyu, count, side):
    """Faint white or camera noise under JPEG 75 on SRC's photographs, as the estimator sees it."""
    import torch

    from bench.estimator_levels import centre_crops
    from degrade.imageconv import float_to_uint8, uint8_to_float
    from trainer.estimator.camera import camera_noise
    from trainer.estimator.files import load_estimator
    from trainer.finetune.level_data import degrade_at

    torch.set_num_threads(1)
    model, metadata = load_estimator(estimator_path)
    tile = metadata.get("training", {}).get("patch", 128)
    crops = centre_crops(src, count, side)
    compressed = [degrade_at(crop, "jpeg", QUALITY, seed=i) for i, crop in enumerate(crops)]
    references = np.array([noise_score(model, image, tile) for image in compressed])
    references_flat = np.array([flattest_blocks(image) for image in compressed])
    print(f"{estimator_path}: {len(crops)} centre crops of {side} px from {src}; JPEG quality "
          f"{QUALITY} after the noise, as in PolyU; one thread\n")
    print("| noise | std of noisy - clean (0-255) | mean noise score | share >= 0.5 | "
          "AUROC above JPEG alone | flattest blocks (model-free) | its AUROC above JPEG alone |"
          "\n|---|---|---|---|---|---|---|")
    print(f"| none (JPEG {QUALITY} alone) | 0.0 | {references.mean():.3f} | "
          f"{(references >= 0.5).mean():.2f} | - | {np.nanmedian(references_flat):.2f} | - |")
    def white(crop, sigma, seed):
        return degrade_at(crop, "gaussian_noise", float(sigma), seed=seed)

    def camera(crop, sigma, seed):
        return float_to_uint8(camera_noise(uint8_to_float(crop), float(sigma), POLYU_SPREAD,
                                           POLYU_CHROMA, seed))

    for kind, add_noise in (("white Gaussian", white), ("camera", camera)):
        for sigma in SIGMAS:
            noisy = [degrade_at(add_noise(crop, sigma, i), "jpeg", QUALITY, seed=i)
                     for i, crop in enumerate(crops)]
            spread = np.median([np.std(a.astype(np.float64) - b)
                                for a, b in zip(noisy, compressed)])
            scores = np.array([noise_score(model, image, tile) for image in noisy])
            flat = np.array([flattest_blocks(image) for image in noisy])
            print(f"| {kind} sigma {sigma} | {spread:.1f} | {scores.mean():.3f} | "
                  f"{(scores >= 0.5).mean():.2f} | {auroc(scores, references):.3f} | "
                  f"{np.nanmedian(flat):.2f} | "
                  f"{flat_auroc(flat, references_flat):.3f} |")
    if polyu is not None:
        print("\n".join(polyu_rows(model, polyu, tile, references, references_flat)))
    off_grid = centre_crops(src, count, side, shift=4)
    print("\n".join(clean_jpeg_rows(model, tile, crops, off_grid)))


if __name__ == "__main__":
    main()

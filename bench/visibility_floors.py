"""Check the ops' visibility floors against one rule: how much one application changes an 8-bit
image, as PSNR against the clean image.

For every op of the pool, draws params from its sampled ranges on random 128x128 crops of the
given photographs, applies it once, rounds to 8 bits and measures the PSNR against the clean
crop. Prints, per op: the floor (degrade's severity), the share of draws below it, the median
PSNR of draws near it (within 25% of the floor; JPEG: within 3 quality steps) and of draws below
it, and the PSNR spread of all draws. The floors are meant to sit where one application changes
an image by about 38-40 dB (an RMS change of 2.5-3 of 255): an op whose every draw is well below
that PSNR is never imperceptible in its sampled range.

Example:
  python bench/visibility_floors.py /work/shared/data/cbsd68 --draws 200
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CROP = 128
JPEG_NEAR = 3.0  # quality steps
NEAR_SHARE = 0.25  # of the floor, for the other ops


def psnr_8bit(clean: np.ndarray, degraded: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (99 for identical ones)."""
    mse = float(np.mean((clean.astype(np.float64) - degraded.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def random_crops(folder: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    from pipelines.sources import load_image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise click.BadParameter(f"{folder}: no .png/.jpg images", param_hint="SRC")
    crops = []
    for path in files[:count]:
        image = load_image(path)
        top = int(rng.integers(0, image.shape[0] - CROP + 1))
        left = int(rng.integers(0, image.shape[1] - CROP + 1))
        crops.append(image[top:top + CROP, left:left + CROP])
    return crops


def draws_of(name: str, crops, draws: int, rng: np.random.Generator) -> np.ndarray:
    """draws x 2: (natural value, PSNR) of one application on crops taken in turn."""
    from degrade.registry import OPS

    op, rows = OPS[name], []
    for index in range(draws):
        clean = crops[index % len(crops)]
        params = op.sample_params(rng, clean.shape)
        out = op.apply(np.ascontiguousarray(clean, dtype=np.float32) / 255.0, params)
        degraded = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
        rows.append((op.severity.measure(params), psnr_8bit(clean, degraded)))
    return np.array(rows)


def summary(name: str, rows: np.ndarray) -> str:
    from degrade.registry import OPS

    severity = OPS[name].severity
    value, psnr = rows[:, 0], rows[:, 1]
    worse_is_lower = severity.full < severity.zero  # JPEG quality
    below = value > severity.floor if worse_is_lower else value < severity.floor
    margin = JPEG_NEAR if worse_is_lower else NEAR_SHARE * abs(severity.floor)
    near = np.abs(value - severity.floor) <= margin

    def median(mask):
        return f"{np.median(psnr[mask]):.1f} (n={mask.sum()})" if mask.any() else "- (n=0)"
    spread = "/".join(f"{np.percentile(psnr, q):.1f}" for q in (5, 50, 95))
    return (f"| {name} | {severity.floor:g} {severity.unit} | {below.mean():.3f} | "
            f"{median(near)} | {median(below)} | {spread} | {psnr.max():.1f} |")


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--draws", type=int, default=200, show_default=True, help="Draws per op.")
@click.option("--images", type=int, default=40, show_default=True, help="Photographs used.")
@click.option("--seed", type=int, default=5, show_default=True)
def main(src, draws, images, seed):
    """PSNR of one application of each op against the clean 8-bit crop, by its floor."""
    from degrade.registry import CANONICAL_ORDER

    rng = np.random.default_rng(seed)
    crops = random_crops(src, images, rng)
    click.echo("| op | floor | draws below floor | median PSNR near floor | median PSNR below "
               "floor | PSNR 5/50/95% of all draws | max PSNR |")
    click.echo("|---|---|---|---|---|---|---|")
    for name in CANONICAL_ORDER:
        click.echo(summary(name, draws_of(name, crops, draws, rng)))


if __name__ == "__main__":
    main()

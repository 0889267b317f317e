"""Running the estimator on images of any size, and reading its outputs in natural units.

Any size: the image's bottom and right edges are trimmed to a multiple of 8 (so every input
starts on JPEG's 8x8 grid), then it runs whole when both sides fit the training patch, else as
grid-aligned tiles of the training patch covering it (the last tile of a row or column is
shifted back to end at the edge); the tiles' logits and levels are averaged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from degrade.errors import KitError
from trainer.estimator.model import GRID

MIN_SIDE = 16


class UnusableImageError(KitError, ValueError):
    """An image the estimator cannot read: too small or not RGB (a ValueError too, for callers
    that caught it as one)."""
THRESHOLD = 0.5
DEFAULT_TILE = 128


@dataclass(frozen=True)
class OpEstimate:
    """One op's verdict on one image: probability of presence and the strongest level."""

    op: str
    probability: float
    level: float
    value: float  # the level in the op's natural unit
    unit: str

    def to_json(self) -> dict:
        return {"op": self.op, "probability": round(self.probability, 4),
                "level": round(self.level, 4), "value": round(self.value, 3), "unit": self.unit}

    def describe(self) -> str:
        return f"{self.op} p={self.probability:.2f} ({self.unit} {self.value:.3g})"


def tile_starts(length: int, tile: int) -> list[int]:
    """Starts of tiles covering 0..length (both multiples of 8), the last one ending at length."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def image_tiles(image: np.ndarray, tile: int) -> torch.Tensor:
    """uint8 HxWx3 -> float N x 3 x h x w tiles in [0, 1] (see the module docstring).
    UnusableImageError when the image is smaller than 16x16 or not RGB."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise UnusableImageError(f"expected an RGB image, got shape {image.shape}")
    height, width = (image.shape[0] // GRID) * GRID, (image.shape[1] // GRID) * GRID
    if height < MIN_SIDE or width < MIN_SIDE:
        raise UnusableImageError(f"{image.shape[0]}x{image.shape[1]} is smaller than "
                         f"{MIN_SIDE}x{MIN_SIDE}")
    size_y, size_x = min(tile, height), min(tile, width)
    crops = [image[y:y + size_y, x:x + size_x] for y in tile_starts(height, tile)
             for x in tile_starts(width, tile)]
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(crops)))
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


def predict_tiles(model, tiles: torch.Tensor, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(mean logit, mean level) over the tiles, two float arrays of len(model.ops); a level no
    higher than the op can mean (JPEG stops at quality 1; ops never redrawn beyond their sampled
    range at its top)."""
    return predict_tiles_with_families(model, tiles, device)[:2]


@torch.no_grad()
def predict_tiles_with_families(model, tiles: torch.Tensor, device: str = "cpu"):
    """predict_tiles plus the mean family logit over the tiles, len(model.families) (empty
    for estimators saved before family outputs)."""
    from trainer.estimator.wide import level_ceilings

    logits, levels, families = model.forward_with_families(tiles.to(device))
    ceilings = level_ceilings(tuple(model.ops), float(getattr(model, "level_span", 1.0)))
    return (logits.mean(dim=0).cpu().numpy(),
            np.minimum(levels.mean(dim=0).cpu().numpy(), ceilings),
            families.mean(dim=0).cpu().numpy())


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Presence logits -> probabilities (float64)."""
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def to_estimates(ops, logits: np.ndarray, levels: np.ndarray) -> list[OpEstimate]:
    """Per-op estimates, natural-unit values from degrade's severities."""
    from degrade.registry import OPS

    return [OpEstimate(name, float(p), float(lv), OPS[name].severity.natural(float(lv)),
                       OPS[name].severity.unit)
            for name, p, lv in zip(ops, probabilities(logits), levels)]


def estimate_image(model, image: np.ndarray, tile: int = DEFAULT_TILE,
                   device: str = "cpu") -> list[OpEstimate]:
    """Every op's estimate for one uint8 RGB image of any size (>= 16x16)."""
    return estimate_image_with_families(model, image, tile, device)[0]


def estimate_image_with_families(model, image: np.ndarray, tile: int = DEFAULT_TILE,
                                 device: str = "cpu") -> tuple[list[OpEstimate], dict[str, float]]:
    """estimate_image plus {family: probability} from the estimator's family outputs (empty
    for estimators saved before them)."""
    logits, levels, families = predict_tiles_with_families(model, image_tiles(image, tile),
                                                            device)
    return (to_estimates(model.ops, logits, levels),
            {name: float(p) for name, p in zip(model.families, probabilities(families))})


def found(estimates: list[OpEstimate], threshold: float = THRESHOLD) -> list[OpEstimate]:
    """The estimates judged present, most probable first."""
    return sorted((e for e in estimates if e.probability >= threshold),
                  key=lambda e: -e.probability)


def folder_summary(per_image: list[list[OpEstimate]], skipped: int, ops,
                   threshold: float = THRESHOLD) -> tuple[dict[str, int], str]:
    """({op: images carrying it}, the one-line summary)."""
    counts = {name: 0 for name in ops}
    for estimates in per_image:
        for estimate in found(estimates, threshold):
            counts[estimate.op] += 1
    carried = ", ".join(f"{name} {n}" for name, n in counts.items() if n) or "no degradation"
    line = f"{len(per_image)} image(s): {carried}"
    if skipped:
        line += f"; {skipped} skipped (unreadable, see above)"
    return counts, line

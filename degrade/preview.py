"""A labelled grid of clean and degraded crops, rendered as an array (no file IO).

Each cell shows a random crop beside its degraded version, with the chain written underneath,
one op per line. Crop positions and chains come from `sample_seed(seed, cell, stream)`, so the
same seed draws the same grid.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from degrade.chain import degrade
from degrade.crops import random_window
from degrade.seeding import CHAIN, CROP, sample_seed

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = 255
INK = (20, 20, 20)


@dataclass(frozen=True)
class GridStyle:
    """Sizes of the preview layout, in pixels."""

    crop: int = 128
    columns: int = 4
    gap: int = 6
    margin: int = 10
    line_height: int = 14
    font_scale: float = 0.38


def describe_step(step: Mapping) -> str:
    """'jpeg quality=45'-style one-liner: the op name and its non-seed parameters, short."""
    parts = [step["name"]]
    for key, value in step["params"].items():
        if key == "seed":
            continue
        if isinstance(value, bool):
            if value:
                parts.append(key)
        elif isinstance(value, float):
            parts.append(f"{key}={value:.3g}")
        elif isinstance(value, (int, str)):
            parts.append(f"{key}={value}")
    return " ".join(parts)


def random_crop(image: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A size x size crop (smaller images: the whole side) at a seeded position."""
    rng = np.random.default_rng(seed)
    height, width = min(size, image.shape[0]), min(size, image.shape[1])
    top, left = random_window(rng, image.shape, (height, width))
    return image[top:top + height, left:left + width]


def _fit_text(text: str, width: int, style: GridStyle) -> str:
    """Cut `text` with an ellipsis so it fits `width` pixels."""
    while text and cv2.getTextSize(text, FONT, style.font_scale, 1)[0][0] > width:
        text = text[:-4] + "..." if len(text) > 4 else ""
    return text


def _draw_lines(canvas: np.ndarray, lines: Sequence[str], top: int, left: int, width: int,
                style: GridStyle) -> None:
    for number, text in enumerate(lines):
        baseline = top + (number + 1) * style.line_height - 3
        cv2.putText(canvas, _fit_text(text, width, style), (left, baseline), FONT,
                    style.font_scale, INK, 1, cv2.LINE_AA)


def _paste(canvas: np.ndarray, tile: np.ndarray, top: int, left: int) -> None:
    canvas[top:top + tile.shape[0], left:left + tile.shape[1]] = tile


def render_grid(cells: Sequence[tuple[np.ndarray, np.ndarray, list[str]]],
                style: GridStyle = GridStyle()) -> np.ndarray:
    """uint8 RGB grid of (clean, degraded, caption lines) cells, clean on the left of each pair."""
    caption_lines = max((len(lines) for _, _, lines in cells), default=1)
    cell_width = 2 * style.crop + style.gap
    cell_height = style.crop + (caption_lines + 1) * style.line_height
    columns = max(1, min(style.columns, len(cells)))
    rows = math.ceil(len(cells) / columns)
    canvas = np.full((2 * style.margin + rows * cell_height + (rows - 1) * style.gap,
                      2 * style.margin + columns * cell_width + (columns - 1) * 2 * style.gap, 3),
                     BACKGROUND, np.uint8)
    for index, (clean, degraded, lines) in enumerate(cells):
        top = style.margin + (index // columns) * (cell_height + style.gap)
        left = style.margin + (index % columns) * (cell_width + 2 * style.gap)
        _paste(canvas, clean, top, left)
        _paste(canvas, degraded, top, left + style.crop + style.gap)
        _draw_lines(canvas, lines, top + style.crop, left, cell_width, style)
    return canvas


def preview_grid(image: np.ndarray, seed: int, pool: Sequence[str], max_length: int,
                 count: int = 16, mode: str = "prod", min_length: int = 1,
                 style: GridStyle = GridStyle()) -> tuple[np.ndarray, list[dict]]:
    """(uint8 RGB grid, the records of its cells) for `count` crops of a uint8 RGB image."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    cells, records = [], []
    for index in range(count):
        clean = np.ascontiguousarray(random_crop(image, style.crop,
                                                 sample_seed(seed, index, CROP)))
        degraded, record = degrade(clean, sample_seed(seed, index, CHAIN), pool,
                                   max_length, mode, min_length)
        steps = [f"{n + 1}. {describe_step(step)}" for n, step in enumerate(record["ops"])]
        cells.append((clean, degraded, [f"#{index}  clean | degraded"] + (steps or ["identity"])))
        records.append(record)
    return render_grid(cells, style), records

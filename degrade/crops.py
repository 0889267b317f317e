"""Random crop windows: the one rule by which every random crop of the project is placed.

A window is placed by drawing its top row, then its left column, each uniform over the
positions that keep it inside the image (`rng.integers(n)`), so the same generator state gives
the same window wherever it is drawn (build-shards, preview, task pairs, fine-tuning batches,
the reader's augmentation, the studies).
"""
from __future__ import annotations

import numpy as np


def random_window(rng: np.random.Generator, image_shape: tuple[int, ...],
                  size: int | tuple[int, int]) -> tuple[int, int]:
    """(top, left) of a `size` window (side, or (height, width)) inside an image whose first two
    dimensions are `image_shape`; ValueError when it does not fit."""
    height, width = int(image_shape[0]), int(image_shape[1])
    window_height, window_width = (size, size) if isinstance(size, (int, np.integer)) else size
    if window_height < 1 or window_width < 1:
        raise ValueError(f"crop size {window_width}x{window_height} must be at least 1x1")
    if window_height > height or window_width > width:
        raise ValueError(f"image of {width}x{height} is smaller than the "
                         f"{window_width}x{window_height} crop")
    return int(rng.integers(height - window_height + 1)), int(rng.integers(width - window_width + 1))

"""Shared fixtures for the degrade tests: small deterministic images."""
from __future__ import annotations

import numpy as np
import pytest


def textured_uint8(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with mild texture: natural enough for JPEG and blur to act on."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / max(width - 1, 1), y / max(height - 1, 1),
                     0.5 + 0.3 * np.sin(x / 5.0) * np.cos(y / 7.0)], axis=2)
    texture = rng.normal(0, 0.03, (height, width, 3))
    return np.clip(np.rint((0.1 + 0.8 * base + texture) * 255), 0, 255).astype(np.uint8)


@pytest.fixture
def textured():
    """The textured_uint8(height, width, seed=0) factory."""
    return textured_uint8


@pytest.fixture
def small_uint8() -> np.ndarray:
    return textured_uint8(48, 64)

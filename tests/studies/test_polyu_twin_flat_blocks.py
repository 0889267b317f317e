"""bench/estimator_polyu_twin.py's model-free measure: the noise left in an image's flattest
blocks, against blocks built with a known residual."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def flattest_blocks(load_module):
    return load_module(BENCH / "estimator_polyu_twin.py", "polyu_twin_script").flattest_blocks


def blocks_image(amplitudes: np.ndarray, base: float = 100.0) -> np.ndarray:
    """8x8 blocks side by side, each a plane plus amplitude x a checkerboard: the checkerboard
    is orthogonal to constants and both ramps, so a plane fit leaves exactly it, a residual
    whose standard deviation is the amplitude."""
    y, x = np.mgrid[0:8, 0:8]
    checker = np.where((x + y) % 2 == 0, 1.0, -1.0)
    rows = []
    for row in amplitudes:
        rows.append(np.hstack([base + 0.7 * x - 0.4 * y + a * checker for a in row]))
    grey = np.vstack(rows)
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_the_percentile_of_the_blocks_residuals_is_read_exactly(flattest_blocks):
    amplitudes = np.random.default_rng(0).uniform(0, 6, (6, 7))
    image = blocks_image(amplitudes)
    for percentile in (5, 50, 90):
        assert flattest_blocks(image, percentile=percentile) == pytest.approx(
            np.percentile(amplitudes, percentile), abs=1e-9)


def test_clipped_blocks_are_left_out(flattest_blocks):
    amplitudes = np.full((2, 4), 3.0)
    amplitudes[0, :2] = 0.0
    image = blocks_image(amplitudes)
    assert flattest_blocks(image, percentile=0) == pytest.approx(0.0, abs=1e-9)
    image[:8, :16] = 255.0  # the flat blocks saturated: clipping, not a clean area
    assert flattest_blocks(image, percentile=0) == pytest.approx(3.0)


def test_an_image_with_only_clipped_blocks_has_no_figure(flattest_blocks):
    assert np.isnan(flattest_blocks(np.full((16, 16, 3), 255.0)))

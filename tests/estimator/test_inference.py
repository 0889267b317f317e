"""Any image size: grid-aligned tiles, averaged; natural units from degrade's severities."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.estimator.inference import (folder_summary, found, image_tiles, tile_starts,
                                         to_estimates)


@pytest.mark.parametrize("length, tile, expected", [
    (64, 128, [0]), (128, 128, [0]), (256, 128, [0, 128]), (200, 128, [0, 72]),
    (392, 128, [0, 128, 256, 264]),
])
def test_tiles_cover_the_side_and_stay_on_the_grid(length, tile, expected):
    starts = tile_starts(length, tile)
    assert starts == expected
    assert all(s % 8 == 0 for s in starts) and starts[-1] + min(tile, length) == length


def test_image_tiles_trim_to_the_grid_and_keep_the_origin():
    image = np.random.default_rng(0).integers(0, 256, (203, 45, 3), dtype=np.uint8)
    tiles = image_tiles(image, 128)
    assert tiles.shape == (2, 3, 128, 40)  # 203 -> 200 rows: tiles at 0 and 72; 45 -> 40 columns
    torch.testing.assert_close(tiles[0, :, 0, 0], torch.from_numpy(image[0, 0] / 255.0).float())
    torch.testing.assert_close(tiles[1, :, 0, 0], torch.from_numpy(image[72, 0] / 255.0).float())


@pytest.mark.parametrize("shape", [(15, 300, 3), (300, 8, 3), (40, 40)])
def test_images_too_small_or_not_rgb_are_refused(shape):
    with pytest.raises(ValueError):
        image_tiles(np.zeros(shape, np.uint8), 128)


def test_estimates_are_in_natural_units():
    estimates = to_estimates(["gaussian_noise", "jpeg"], np.array([2.0, -3.0]),
                             np.array([0.5, 0.5]))
    noise, jpeg = estimates
    assert noise.probability == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert noise.value == pytest.approx(15.0) and noise.unit.startswith("sigma")
    assert jpeg.value == pytest.approx(65.0) and jpeg.unit == "quality"
    assert [e.op for e in found(estimates)] == ["gaussian_noise"]
    counts, line = folder_summary([estimates, estimates], 1, ["gaussian_noise", "jpeg"])
    assert counts == {"gaussian_noise": 2, "jpeg": 0}
    assert line == "2 image(s): gaussian_noise 2; 1 skipped (unreadable, see above)"

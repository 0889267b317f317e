"""The estimator CNN: size, shapes on any multiple-of-8 input, and the grid phase pooling."""
from __future__ import annotations

import pytest
import torch

from degrade.registry import CANONICAL_ORDER
from trainer.estimator.model import DegradationEstimator, grid_phase_pool, parameter_count


def test_default_estimator_is_well_under_a_million_parameters():
    model = DegradationEstimator(CANONICAL_ORDER)
    assert 100_000 < parameter_count(model) < 1_000_000


@pytest.mark.parametrize("height, width", [(16, 16), (32, 48), (136, 72)])
def test_any_multiple_of_eight_gives_one_logit_and_level_per_op(height, width):
    model = DegradationEstimator(["jpeg", "rain"]).eval()
    logits, levels = model(torch.rand(3, 3, height, width))
    assert logits.shape == levels.shape == (3, 2)
    assert (levels >= 0).all() and (levels <= 1).all()


def test_config_rebuilds_the_same_architecture():
    model = DegradationEstimator(["jpeg"], stem=8, phase=4, trunk=(8, 16), hidden=32)
    again = DegradationEstimator.from_config(model.config)
    assert again.config == model.config
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]
    with pytest.raises(ValueError, match="not an estimator"):
        DegradationEstimator.from_config({"arch": "nafnet"})


def test_phase_pooling_sees_an_eight_pixel_seam_and_not_the_content_level():
    # a bright column every 8 pixels (a block seam) on two different backgrounds
    seam = torch.zeros(1, 1, 16, 32)
    seam[..., :, 7::8] = 1.0
    pooled = grid_phase_pool(seam + 5.0).reshape(8, 8)
    torch.testing.assert_close(pooled, grid_phase_pool(seam).reshape(8, 8))
    expected = torch.full((8, 8), -1 / 8)
    expected[:, 7] = 1 - 1 / 8
    torch.testing.assert_close(pooled, expected)

"""The estimator CNN: size, shapes on any multiple-of-8 input, and the grid phase pooling."""
from __future__ import annotations

import numpy as np
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
    older = {k: v for k, v in model.config.items() if k != "noise_bins"}  # before the profile
    assert DegradationEstimator.from_config(older).noise_bins == 0
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


def numpy_noise_profile(image: np.ndarray, bins: int) -> np.ndarray:
    """The noise profile written out with numpy on one H x W x 3 image in [0, 1]."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    box = sum(padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)) / 9
    detail = 4 * (image - box)
    blocks = lambda a: a.reshape(height // 8, 8, width // 8, 8, -1).mean(axis=(1, 3))  # noqa: E731
    energy = blocks(detail ** 2).reshape(-1, 3)
    brightness = blocks(image.mean(axis=2, keepdims=True)).reshape(-1)
    which = np.clip((brightness * bins).astype(int), 0, bins - 1)
    levels, shares = [], []
    for index in range(bins):
        chosen = np.sort(energy[which == index], axis=0)
        if len(chosen):
            value = chosen[int((len(chosen) - 1) * 0.25)]
        else:
            value = np.quantile(energy, 0.25, axis=0)
        levels.append((np.log(value + 1e-5) + 7) / 3)
        shares.append(len(chosen) / len(energy))
    return np.concatenate(levels + [np.array(shares)])


def test_noise_profile_matches_numpy_and_follows_the_noise_law():
    from trainer.estimator.model import high_pass, noise_profile

    rng = np.random.default_rng(0)
    ramp = np.repeat(np.linspace(0.05, 0.95, 64)[None, :, None], 64, axis=0) * np.ones(3)
    images = {"gaussian": ramp + rng.normal(0, 10 / 255, ramp.shape),
              "speckle": ramp + ramp * rng.normal(0, 0.2, ramp.shape)}
    profiles = {}
    for name, image in images.items():
        x = torch.from_numpy(image.transpose(2, 0, 1)[None]).double()
        profile = noise_profile(x, high_pass(x), 4)[0].numpy()
        np.testing.assert_allclose(profile, numpy_noise_profile(image, 4), rtol=1e-6, atol=1e-9)
        profiles[name] = profile[:12].reshape(4, 3).mean(axis=1)  # per brightness bin
    assert np.ptp(profiles["gaussian"]) < 0.15  # flat
    assert np.all(np.diff(profiles["speckle"]) > 0.1)  # grows with brightness

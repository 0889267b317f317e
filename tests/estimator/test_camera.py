"""Camera-like samples: faint correlated noise then JPEG, or JPEG alone."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from degrade.registry import CANONICAL_ORDER, OPS
from trainer.estimator.camera import CAMERA_QUALITY, CAMERA_SIGMA, camera_noise, redraw_camera

OPS_LIST = list(CANONICAL_ORDER)


def test_a_redraw_is_faint_noise_then_jpeg_or_jpeg_alone_labelled_with_what_it_holds(
        uint8_batch):
    gt, lq, presence, level = uint8_batch(count=64, side=32)
    new_lq, new_presence, new_level = redraw_camera(lq, gt, presence, level, OPS_LIST, 48,
                                                    np.random.default_rng(0))
    changed = [i for i in range(64) if not torch.equal(new_lq[i], lq[i])]
    assert len(changed) == 48
    noise, jpeg = OPS_LIST.index("gaussian_noise"), OPS_LIST.index("jpeg")
    noisy = [i for i in changed if new_presence[i, noise]]
    assert 14 <= len(noisy) <= 34  # half of 48, give or take 3 SD
    for i in changed:
        assert np.flatnonzero(new_presence[i]).tolist() == ([noise, jpeg] if i in noisy
                                                            else [jpeg])
        quality = OPS["jpeg"].severity.natural(new_level[i, jpeg])
        if i in noisy:
            sigma = OPS["gaussian_noise"].severity.natural(new_level[i, noise])
            assert CAMERA_SIGMA[0] <= sigma <= CAMERA_SIGMA[1]
        assert CAMERA_QUALITY[0] <= round(quality) <= CAMERA_QUALITY[1]
        assert abs(quality - round(quality)) < 1e-4  # float32 labels of integer qualities
    unchanged = [i for i in range(64) if i not in changed]
    assert np.array_equal(new_presence[unchanged], presence[unchanged])


def test_noise_survives_jpeg_in_the_redraw_on_a_flat_image():
    gt = torch.full((32, 3, 64, 64), 128, dtype=torch.uint8)
    presence, level = np.zeros((32, 7), np.float32), np.zeros((32, 7), np.float32)
    new_lq, new_presence, new_level = redraw_camera(gt.clone(), gt, presence, level, OPS_LIST,
                                                    32, np.random.default_rng(1))
    noise = OPS_LIST.index("gaussian_noise")
    noisy = np.flatnonzero(new_presence[:, noise])
    assert len(noisy) >= 8
    for i in set(range(32)) - set(noisy):  # JPEG alone keeps a flat image flat
        assert torch.equal(new_lq[i], gt[i])
    sigmas = [OPS["gaussian_noise"].severity.natural(new_level[i, noise]) for i in noisy]
    stds = [(new_lq[i].double() - 128).std().item() for i in noisy]
    # a flat grey image under JPEG alone stays flat: what is left is the noise, part of it
    # quantised away (sigma 2 at quality 79 keeps about a third; sigma 9 at 77 about half)
    assert np.corrcoef(sigmas, stds)[0, 1] > 0.8  # the quality (60-95) spreads it
    assert all(0.2 * s < d < s + 0.5 for s, d in zip(sigmas, stds))


def test_a_pool_without_gaussian_noise_or_jpeg_is_left_alone(uint8_batch):
    gt, lq, presence, level = uint8_batch()
    same = redraw_camera(lq, gt, presence, level, ["rain", "jpeg"], 2, np.random.default_rng(0))
    assert same[0] is lq and same[1] is presence


def _lag_one_correlation(field: np.ndarray) -> float:
    return float((field[:, :-1] * field[:, 1:]).mean() / (field * field).mean())


@pytest.mark.parametrize("spread", [0.0, 0.75, 1.0])
def test_camera_noise_has_the_set_deviation_and_a_blurred_white_fields_correlation(spread):
    flat = np.full((256, 256, 3), 0.5, np.float32)
    noise = (camera_noise(flat, sigma=6.0, spread=spread, chroma=0.3, seed=3) - 0.5) * 255
    assert noise.std() == pytest.approx(6.0, rel=0.01)
    # white noise blurred by a Gaussian of sigma s: neighbours correlate exp(-1 / (4 s^2))
    expected = np.exp(-1.0 / (4 * spread ** 2)) if spread else 0.0
    assert _lag_one_correlation(noise[..., 0]) == pytest.approx(expected, abs=0.03)


@pytest.mark.parametrize("chroma", [0.0, 0.3, 0.6])
def test_camera_noise_puts_two_thirds_of_its_colour_share_off_grey(chroma):
    flat = np.full((256, 256, 3), 0.5, np.float32)
    noise = camera_noise(flat, sigma=6.0, spread=0.75, chroma=chroma, seed=4) - 0.5
    off_grey = noise - noise.mean(axis=2, keepdims=True)
    # channel fields independent with share c: the deviations from their mean hold 2c/3
    assert (off_grey ** 2).mean() / (noise ** 2).mean() == pytest.approx(2 * chroma / 3,
                                                                         abs=0.01)


def test_camera_noise_is_the_same_for_the_same_seed():
    image = np.random.default_rng(0).random((32, 40, 3)).astype(np.float32)
    first = camera_noise(image, sigma=4.0, spread=0.5, chroma=0.2, seed=9)
    assert np.array_equal(first, camera_noise(image, sigma=4.0, spread=0.5, chroma=0.2, seed=9))
    assert not np.array_equal(first, camera_noise(image, sigma=4.0, spread=0.5, chroma=0.2,
                                                  seed=10))
    assert first.dtype == np.float32 and first.min() >= 0 and first.max() <= 1

"""Camera-like samples for the head refit: faint Gaussian noise then JPEG, or JPEG alone."""
from __future__ import annotations

import numpy as np
import torch

from degrade.registry import CANONICAL_ORDER, OPS
from trainer.estimator.camera import CAMERA_QUALITY, CAMERA_SIGMA, redraw_camera

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
        assert CAMERA_QUALITY[0] <= quality <= CAMERA_QUALITY[1]
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

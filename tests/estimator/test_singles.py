"""Single-op training samples: the clean crop under one op of the pool, labelled with it."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from degrade.registry import CANONICAL_ORDER, OPS
from trainer.estimator.singles import redraw_single


def test_a_redraw_is_the_clean_image_under_gaussian_noise_of_the_labelled_sigma(uint8_batch):
    gt, lq, presence, level = uint8_batch(count=64, side=64)
    new_lq, new_presence, new_level = redraw_single(lq, gt, presence, level, ["gaussian_noise"],
                                                    5, np.random.default_rng(1))
    changed = [i for i in range(64) if not torch.equal(new_lq[i], lq[i])]
    assert len(changed) == 5
    for i in changed:
        assert new_presence[i].tolist() == [1, 0, 0, 0, 0, 0, 0]
        assert new_level[i, 1:].sum() == 0
        sigma = OPS["gaussian_noise"].severity.natural(new_level[i, 0])
        assert 1.0 <= sigma <= 30.0  # PROD's range
        residual = new_lq[i].numpy().astype(float) - gt[i].numpy()
        assert np.std(residual) == pytest.approx(np.hypot(sigma, 0.29), rel=0.1, abs=0.3)
    unchanged = [i for i in range(64) if i not in changed]
    assert np.array_equal(new_presence[unchanged], presence[unchanged])
    # the inputs are kept
    assert (presence == 1).all() and torch.equal(lq, uint8_batch(count=64, side=64)[1])


def test_a_jpeg_redraw_matches_an_independent_encoder_at_the_labelled_quality(uint8_batch):
    gt, lq, presence, level = uint8_batch(count=3, side=32)
    new_lq, new_presence, new_level = redraw_single(lq, gt, presence, level, ["jpeg"], 3,
                                                    np.random.default_rng(2))
    severity = OPS["jpeg"].severity
    for i in range(3):
        quality = int(round(severity.natural(new_level[i, 0])))
        assert 30 <= quality <= 95 and new_presence[i, 0] == 1
        pixels = np.ascontiguousarray(gt[i].permute(1, 2, 0).numpy())
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
        reference = np.asarray(Image.open(buffer)).astype(np.float32)
        ours = new_lq[i].permute(1, 2, 0).numpy().astype(np.float32)
        assert np.abs(ours - reference).mean() < 1.5  # two libjpeg builds: rounding differs


def test_every_op_of_the_pool_is_drawn_about_equally_often(uint8_batch):
    gt, lq, presence, level = uint8_batch(count=16, side=16)
    ops = list(CANONICAL_ORDER)
    counts = np.zeros(len(ops))
    rng = np.random.default_rng(3)
    for _ in range(60):
        _, new_presence, new_level = redraw_single(lq, gt, presence, level, ops, 16, rng)
        assert (new_presence.sum(axis=1) == 1).all()
        assert ((new_level > 0) <= (new_presence > 0)).all()  # a level only where present
        counts += new_presence.sum(axis=0)
    expected = 960 / len(ops)  # binomial sd about 11
    assert np.all(np.abs(counts - expected) < 45), counts


def test_a_redraw_takes_8_bit_images_only_and_no_count_leaves_the_batch_alone(uint8_batch):
    gt, lq, presence, level = uint8_batch()
    with pytest.raises(ValueError, match="uint8"):
        redraw_single(lq.float() / 255, gt, presence, level, ["jpeg"], 1,
                      np.random.default_rng(0))
    assert redraw_single(lq, gt, presence, level, ["jpeg"], 0, np.random.default_rng(0))[0] is lq
    assert redraw_single(lq, gt, presence, level, [], 2, np.random.default_rng(0))[0] is lq

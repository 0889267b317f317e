"""Training samples beyond the sampled range: which ops, how far, and what a redraw holds."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from degrade.registry import CANONICAL_ORDER, OPS
from trainer.estimator.wide import WideOp, redraw_wide, settable_ceiling, wide_ops


def test_the_settable_ops_of_the_default_pool_and_their_ranges():
    found = {w.name: w for w in wide_ops(CANONICAL_ORDER, 3.0)}
    assert set(found) == {"gaussian_noise", "jpeg"}
    noise, jpeg = found["gaussian_noise"], found["jpeg"]
    assert noise.index == list(CANONICAL_ORDER).index("gaussian_noise")
    assert noise.low == pytest.approx(3.0 / 30.0)  # floor sigma 3 on the sampled 0..30
    assert noise.high == 3.0  # sigma 90: Gaussian noise takes any sigma up to 255
    assert jpeg.low == pytest.approx(10.0 / 70.0)  # quality 90 on the sampled 100..30
    # JPEG stops at quality 1, level 99/70 (plus the half step that still rounds to 1)
    severity = OPS["jpeg"].severity
    assert severity.snap(severity.natural(jpeg.high)) == 1.0
    assert severity.snap(severity.natural(jpeg.high + 0.01)) < 1.0
    assert settable_ceiling("jpeg", 1.2) == 1.2  # inside the limit: the span itself


def test_a_redraw_is_the_clean_image_under_one_op_labelled_with_its_level(uint8_batch):
    gt, lq, presence, level = uint8_batch(count=64, side=64)
    noise = WideOp("gaussian_noise", 0, 2.0, 2.0)  # sigma 60 exactly
    new_lq, new_presence, new_level = redraw_wide(lq, gt, presence, level, [noise], 3,
                                                  np.random.default_rng(1))
    changed = [i for i in range(64) if not torch.equal(new_lq[i], lq[i])]
    assert len(changed) == 3
    for i in changed:
        assert new_presence[i].tolist() == [1, 0, 0, 0, 0, 0, 0]
        assert new_level[i, 0] == pytest.approx(2.0) and new_level[i, 1:].sum() == 0
        # the residual of the redrawn image is noise of sigma 60 (0-255), clipping aside
        residual = new_lq[i].numpy().astype(float) - gt[i].numpy()
        assert np.std(residual) == pytest.approx(60, rel=0.12)
    unchanged = [i for i in range(64) if i not in changed]
    assert np.array_equal(new_presence[unchanged], presence[unchanged])
    # the inputs are kept
    assert (presence == 1).all() and torch.equal(lq, uint8_batch(count=64, side=64)[1])


def test_a_jpeg_redraw_matches_an_independent_encoder_at_the_labelled_quality(uint8_batch):
    gt, lq, presence, level = uint8_batch(count=2, side=32)
    jpeg = WideOp("jpeg", 5, 1.25, 1.25)  # quality 12.5 -> snapped to 12 or 13
    new_lq, _, new_level = redraw_wide(lq, gt, presence, level, [jpeg], 2,
                                       np.random.default_rng(0))
    severity = OPS["jpeg"].severity
    quality = int(round(severity.natural(new_level[0, 5])))
    assert quality in (12, 13) and new_level[0, 5] == pytest.approx(severity.linear_level(quality))
    pixels = np.ascontiguousarray(gt[0].permute(1, 2, 0).numpy())
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    reference = np.asarray(Image.open(buffer)).astype(np.float32)
    ours = new_lq[0].permute(1, 2, 0).numpy().astype(np.float32)
    assert np.abs(ours - reference).mean() < 1.5  # two libjpeg builds: rounding differs


def test_a_redraw_takes_8_bit_images_only(uint8_batch):
    gt, lq, presence, level = uint8_batch()
    with pytest.raises(ValueError, match="uint8"):
        redraw_wide(lq.float() / 255, gt, presence, level, wide_ops(["jpeg"], 3.0), 1,
                    np.random.default_rng(0))


def test_no_ops_or_no_count_leaves_the_batch_alone(uint8_batch):
    gt, lq, presence, level = uint8_batch()
    same = redraw_wide(lq, gt, presence, level, [], 2, np.random.default_rng(0))
    assert same[0] is lq
    same = redraw_wide(lq, gt, presence, level, wide_ops(["jpeg"], 3.0), 0,
                       np.random.default_rng(0))
    assert same[0] is lq


def test_inference_levels_stop_where_the_op_can_be_set():
    from trainer.estimator.inference import predict_tiles
    from trainer.estimator.model import DegradationEstimator

    model = DegradationEstimator(["gaussian_noise", "jpeg", "rain"], stem=8, phase=4,
                                 trunk=(8, 16), hidden=16).eval()
    with torch.no_grad():
        model.head[-1].bias[3:] = 50.0  # every level logit saturates at the span, 3
    _, levels = predict_tiles(model, torch.rand(2, 3, 16, 16))
    assert levels[0] == pytest.approx(3.0)  # sigma 90: Gaussian noise can be set there
    assert levels[1] == pytest.approx(settable_ceiling("jpeg", 3.0))  # quality 1
    assert levels[2] == pytest.approx(1.0)  # rain is never redrawn beyond its sampled range

"""`--level auto`'s estimate (trainer.levelling.estimate_natural) with an estimator whose levels
go beyond the op's sampled range: only the adapter's trained range clips it, and with
--extrapolate only what the op can be set to."""
from __future__ import annotations

import numpy as np
import pytest

from trainer.adapters import LevelScale
from trainer.levelling import estimate_natural


@pytest.fixture
def estimating(monkeypatch):
    """Make the estimator report degrade's linear `level` for every op (a fake estimate_image:
    the real head of this session's estimator stops at 1)."""
    from degrade.registry import OPS
    from trainer.estimator import inference

    def use(level):
        def fake(model, image, tile=None, device="cpu"):
            return [inference.OpEstimate(op, 0.9, level, OPS[op].severity.natural(level),
                                         OPS[op].severity.unit)
                    for op in ("gaussian_noise", "jpeg")]
        monkeypatch.setattr(inference, "estimate_image", fake)
    return use


IMAGE = np.zeros((32, 32, 3), np.uint8)
NOISE = LevelScale.for_op("gaussian_noise", (15, 35, 55, 75))  # sampled up to sigma 30
JPEG = LevelScale.for_op("jpeg", (10, 30, 50, 80))  # level 1 is quality 30


@pytest.mark.parametrize("scale, level, clipped, extrapolated", [
    (NOISE, 2.0, 60.0, 60.0),          # sigma 60: beyond the estimator's old range, inside ours
    (NOISE, 3.0, 75.0, 90.0),          # sigma 90: beyond the adapter's range
    (NOISE, 0.1, 15.0, 3.0),           # sigma 3: below it
    (NOISE, -0.2, 15.0, None),         # no sigma can be negative: the smallest above 0
    (JPEG, 1.2, 16.0, 16.0),           # quality 16 (100 - 1.2 * 70)
    (JPEG, 1.3, 10.0, 9.0),            # quality 9, below the trained 10
    (JPEG, 1.6, 10.0, 1.0),            # quality -12 is no quality: 1, the lowest there is
    (JPEG, 0.0, 80.0, 100.0),
])
def test_estimates_beyond_the_sampled_range(estimating, scale, level, clipped, extrapolated):
    estimating(level)
    assert estimate_natural(None, scale, IMAGE) == pytest.approx(clipped)
    value = estimate_natural(None, scale, IMAGE, extrapolate=True)
    if extrapolated is None:
        assert 0 < value < 1e-6
    else:
        assert value == pytest.approx(extrapolated)


def settable(severity, value, inside):
    """What `estimate_natural` with extrapolate uses: degrade's nearest settable value, snapped."""
    return severity.snap(severity.nearest_settable(value, inside))


def test_settable_is_the_boundary_of_what_params_at_accepts():
    from degrade.registry import OPS

    jpeg = OPS["jpeg"].severity
    assert settable(jpeg, 120.0, 80.0) == 100.0 and settable(jpeg, 55.0, 80.0) == 55.0
    noise = OPS["gaussian_noise"].severity
    assert settable(noise, 300.0, 75.0) == pytest.approx(255.0)

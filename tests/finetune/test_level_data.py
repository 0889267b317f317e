"""Level training data: every crop at every level (the paper's recipe), a level per image for a
range, real pairs with labelled levels; exact strengths from degrade; determinism."""
import numpy as np
import pytest
import torch

from degrade.noise import gaussian_noise_rgb
from degrade.imageconv import float_to_uint8, uint8_to_float
from trainer.adapters.levels import LevelError
from trainer.finetune import pair_batches
from trainer.finetune.level_data import (LevelSpec, degrade_at, level_batches, pair_levels,
                                         read_level_labels, snapped)


def _cleans(count=3, size=20):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def test_every_crop_at_every_level_with_its_c():
    spec = LevelSpec("gaussian_noise", (15.0, 55.0))
    batch = next(iter(level_batches(_cleans(), spec, 3, 16, seed=1)(0)))
    assert batch["lq"].shape == batch["gt"].shape == (6, 3, 16, 16)
    assert torch.equal(batch["gt"][0], batch["gt"][1]) and torch.equal(batch["gt"][2], batch["gt"][3])
    assert batch["level"].tolist() == pytest.approx([0.5, 55 / 30] * 3)
    noise = (batch["lq"] - batch["gt"]) * 255  # clipping only shrinks it
    assert noise[1::2].std() > 2.5 * noise[0::2].std()


def test_batches_are_a_function_of_seed_and_number():
    spec = LevelSpec("gaussian_noise", low=5.0, high=75.0)
    stream = iter(level_batches(_cleans(), spec, 4, 16, seed=2)(0))
    next(stream)
    second = next(stream)
    resumed = next(iter(level_batches(_cleans(), spec, 4, 16, seed=2)(1)))
    for key in ("lq", "gt", "level"):
        assert torch.equal(second[key], resumed[key])
    levels = second["level"].numpy() * 30
    assert second["lq"].shape[0] == 4 and len(set(levels.round(4))) == 4
    assert ((levels >= 5) & (levels <= 75)).all()


def test_jpeg_range_levels_are_integers():
    spec = LevelSpec("jpeg", low=10.0, high=80.0)
    batch = next(iter(level_batches(_cleans(), spec, 5, 16, seed=0)(0)))
    qualities = 100 - batch["level"].numpy() * 70
    assert np.allclose(qualities, qualities.round(), atol=1e-3)
    assert snapped("jpeg", np.linspace(10, 80, 4)) == (10.0, 33.0, 57.0, 80.0)


def test_degrade_at_is_the_op_at_exactly_that_strength():
    clean = _cleans(1)[0]
    out = degrade_at(clean, "gaussian_noise", 42.0, seed=5)
    params = {"sigma": 42.0, "grey": False,
              "seed": int(np.random.default_rng(5).integers(0, 2**63))}
    expected = float_to_uint8(gaussian_noise_rgb(uint8_to_float(clean), **params))
    assert np.array_equal(out, expected)
    with pytest.raises(ValueError, match="quality 0 must be an integer in"):
        degrade_at(clean, "jpeg", 0, seed=0)


def test_labelled_pairs_carry_their_levels(tmp_path):
    pairs = [(f"p{i}", np.full((12, 12, 3), 50 * i, np.uint8), np.zeros((12, 12, 3), np.uint8))
             for i in range(3)]
    labels = tmp_path / "labels.csv"
    labels.write_text("name,level\np0,10\np1,20sigma\n\np2,30\n")
    values = pair_levels(pairs, read_level_labels(labels, "gaussian_noise"), "pairs")
    assert values == [10.0, 20.0, 30.0]
    batch = next(iter(pair_batches(pairs, 6, 8, 3, [v / 30 for v in values])(0)))
    plain = next(iter(pair_batches(pairs, 6, 8, 3)(0)))
    assert torch.equal(batch["lq"], plain["lq"])  # the same crops, now with their levels
    which = (batch["lq"].mean(dim=(1, 2, 3)) * 255 / 50).round().long()
    assert len(set(which.tolist())) > 1
    assert torch.allclose(batch["level"], (which + 1).float() / 3)


def test_label_file_errors_name_file_and_line(tmp_path, make_pairs):
    bad = tmp_path / "bad.csv"
    bad.write_text("p0,10\np0,12\n")
    with pytest.raises(LevelError, match=r"bad.csv, line 2: pair 'p0' is labelled twice"):
        read_level_labels(bad, "gaussian_noise")
    bad.write_text("p0,10,3\n")
    with pytest.raises(LevelError, match=r"line 1: expected `name,level`"):
        read_level_labels(bad, "gaussian_noise")
    bad.write_text("")
    with pytest.raises(LevelError, match="no level labels"):
        read_level_labels(bad, "gaussian_noise")
    with pytest.raises(LevelError, match="cannot read"):
        read_level_labels(tmp_path / "missing.csv", "gaussian_noise")
    with pytest.raises(LevelError, match="no level for pair 'p1'"):
        pair_levels(make_pairs(count=2), {"p0": 1.0}, "pairs")

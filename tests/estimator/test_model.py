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
    assert (levels >= 0).all() and (levels <= 3).all()  # the default level span


def test_levels_reach_the_span_and_estimators_without_one_read_one():
    model = DegradationEstimator(["jpeg"], stem=8, phase=4, trunk=(8, 16), hidden=32,
                                 level_span=2.5).eval()
    with torch.no_grad():
        model.head[-1].bias[1] = 50.0  # the level logit saturates: the span itself
        _, levels = model(torch.rand(1, 3, 16, 16))
    assert levels.item() == pytest.approx(2.5)
    legacy = {k: v for k, v in model.config.items() if k != "level_span"}
    assert DegradationEstimator.from_config(legacy).level_span == 1.0
    with pytest.raises(ValueError, match="level_span must be at least 1"):
        DegradationEstimator(["jpeg"], level_span=0.5)


def test_config_rebuilds_the_same_architecture():
    model = DegradationEstimator(["jpeg"], stem=8, phase=4, trunk=(8, 16), hidden=32)
    again = DegradationEstimator.from_config(model.config)
    assert again.config == model.config
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]
    assert model.config["curve_bins"] == 8 and model.config["noise_bins"] == 0
    assert model.config["direction_lags"] == [1, 2, 3]
    before = {k: v for k, v in model.config.items() if k != "direction_lags"}
    assert DegradationEstimator.from_config(before).direction_lags == ()
    assert (DegradationEstimator.from_config(before).head[0].in_features
            == model.head[0].in_features - 25)
    # before the noise curve: the profile's bins, no curve; before the profile: neither
    profiled = {k: v for k, v in model.config.items() if k != "curve_bins"} | {"noise_bins": 4}
    rebuilt = DegradationEstimator.from_config(profiled)
    assert (rebuilt.noise_bins, rebuilt.curve_bins) == (4, 0)
    older = {k: v for k, v in profiled.items() if k != "noise_bins"}
    assert DegradationEstimator.from_config(older).curve_bins == 0
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


def test_noise_residual_equals_the_immerkaer_mask_and_the_box_mean():
    from scipy.ndimage import correlate

    from trainer.estimator.model import noise_residual

    image = np.random.default_rng(1).random((2, 3, 20, 28))
    residual, mean = noise_residual(torch.from_numpy(image))
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]]) / 6.0
    valid = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    expected = np.abs(correlate(image, mask[None, None], mode="nearest"))[valid]
    box = correlate(image, np.full((1, 1, 3, 3), 1 / 9), mode="nearest")[valid]
    np.testing.assert_allclose(residual.numpy(), expected.reshape(2, -1), atol=1e-12)
    np.testing.assert_allclose(mean.numpy(), box.reshape(2, -1), atol=1e-12)


@pytest.mark.parametrize("q", [0.25, 0.5])
def test_histogram_quantile_is_within_its_step_of_numpy(q):
    from trainer.estimator.model import LOG2_BUCKETS, LOG2_FLOOR, LOG2_STEP, histogram_quantile

    rng = np.random.default_rng(2)
    values = rng.uniform(-9.0, -1.0, size=(3, 4000))  # log2 |residual|
    buckets = ((values - LOG2_FLOOR) / LOG2_STEP).astype(int)
    histograms = np.stack([np.bincount(row, minlength=LOG2_BUCKETS) for row in buckets])
    found = histogram_quantile(torch.from_numpy(histograms).double(), q).numpy()
    np.testing.assert_allclose(found, np.quantile(values, q, axis=1), atol=0.05)
    empty = histogram_quantile(torch.zeros(1, LOG2_BUCKETS), q)
    assert empty.item() == LOG2_FLOOR


def test_noise_curve_slope_tells_gaussian_poisson_and_speckle_apart():
    """Per doubling of brightness the curve (log2 of the residual's quantiles) rises by about
    0 for Gaussian noise, 1/2 for Poisson, 1 for speckle, whatever the strength."""
    from trainer.estimator.model import CURVE_QUANTILES, noise_curve

    rng = np.random.default_rng(3)
    ramp = np.repeat(np.linspace(0.0, 1.0, 256)[None, :, None], 64, axis=0) * np.ones(3)
    noises = {0.0: lambda s: rng.normal(0, s, ramp.shape),
              0.5: lambda s: rng.normal(0, 1, ramp.shape) * s * np.sqrt(ramp / 0.5),
              1.0: lambda s: rng.normal(0, 1, ramp.shape) * s * ramp / 0.5}
    bins, width = 8, len(CURVE_QUANTILES)
    centres = np.log2((np.arange(bins) + 0.5) / bins)
    for exponent, noise in noises.items():
        for sigma in (4 / 255, 16 / 255):
            x = torch.from_numpy(np.clip(ramp + noise(sigma), 0, 1).transpose(2, 0, 1)[None])
            curve = noise_curve(x.float(), bins)[0].numpy()
            log2_quantile = curve[:bins * width].reshape(bins, width)[:, 1] * 3 - 6  # medians
            inner = slice(2, 7)  # away from clipping at black and white
            slope = np.polyfit(centres[inner], log2_quantile[inner], 1)[0]
            assert abs(slope - exponent) < 0.15, (exponent, sigma, slope)
            shares = curve[bins * width:]
            np.testing.assert_allclose(shares.sum(), 1.0, rtol=1e-6)


def _direction_reference(image: np.ndarray, lags) -> np.ndarray:
    """direction_profile in plain numpy loops over the residual's pixel pairs."""
    from trainer.estimator.model import DIRECTIONS

    grey = image.mean(axis=0).astype(np.float64)
    height, width = grey.shape
    mask = np.outer([1, -2, 1], [1, -2, 1])
    residual = np.array([[np.sum(mask * grey[y:y + 3, x:x + 3]) for x in range(width - 2)]
                         for y in range(height - 2)])
    energy = np.mean(residual ** 2)
    values = []
    for lag in lags:
        row = []
        for dy, dx in DIRECTIONS:
            dy, dx = lag * dy, lag * dx
            pairs = [residual[y, x] * residual[y + dy, x + dx]
                     for y in range(residual.shape[0]) for x in range(residual.shape[1])
                     if 0 <= y + dy < residual.shape[0] and 0 <= x + dx < residual.shape[1]]
            row.append(np.mean(pairs) / energy)
        values += sorted(row, reverse=True)
    values.append(np.log(np.mean(residual ** 4) / energy ** 2) / 3)
    return np.array(values)


def test_direction_profile_matches_plain_numpy():
    from trainer.estimator.model import direction_profile

    image = np.random.default_rng(3).uniform(0, 1, (3, 21, 19))
    ours = direction_profile(torch.from_numpy(image)[None], (1, 2, 3))[0].numpy()
    np.testing.assert_allclose(ours, _direction_reference(image, (1, 2, 3)), atol=1e-9)


def test_direction_profile_of_white_noise_is_the_masks_own_correlation():
    from trainer.estimator.model import direction_profile

    noise = 0.5 + 0.05 * torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(0),
                                      dtype=torch.float64)
    lag1, lag2, lag3, kurtosis = direction_profile(noise).split([8, 8, 8, 1], dim=1)
    # [1,-2,1] correlates with itself by -2/3 one pixel away, 1/6 two away, 0 beyond; the
    # 2-D mask is its outer product, so an offset (dy, dx) gives a(dy) * a(dx)
    a = {0: 1.0, 1: -2 / 3, 2: 1 / 6}
    expected1 = sorted([a[abs(dy)] * a[abs(dx)] for dy, dx in
                        [(0, 1), (1, 0), (1, 1), (1, 1), (1, 2), (2, 1), (1, 2), (2, 1)]],
                       reverse=True)
    np.testing.assert_allclose(lag1[0].numpy(), expected1, atol=0.015)
    np.testing.assert_allclose(lag2[0].numpy(), [1 / 6, 1 / 6, 1 / 36, 1 / 36, 0, 0, 0, 0],
                               atol=0.015)
    np.testing.assert_allclose(lag3[0].numpy(), np.zeros(8), atol=0.015)
    assert kurtosis.item() == pytest.approx(np.log(3.0) / 3, abs=0.01)  # Gaussian


def test_direction_profile_ignores_flips_and_quarter_turns_and_sees_a_streak():
    from trainer.estimator.model import direction_profile

    generator = torch.Generator().manual_seed(1)
    image = 0.5 + 0.02 * torch.randn(1, 3, 64, 64, generator=generator, dtype=torch.float64)
    for k in range(64):  # one slanted streak, two pixels down for every pixel across
        image[..., min(2 * k, 63), k] += 0.3
    profile = direction_profile(image)
    for turned in (image.flip(-1), image.flip(-2), image.rot90(1, (2, 3)),
                   image.rot90(1, (2, 3)).flip(-1)):
        torch.testing.assert_close(direction_profile(turned), profile)
    plain = direction_profile(0.5 + 0.02 * torch.randn(1, 3, 64, 64, generator=generator,
                                                      dtype=torch.float64))
    # the streak's direction keeps its detail correlated two and three steps along it
    assert profile[0, 8] > plain[0, 8] + 0.2 and profile[0, 16] > plain[0, 16] + 0.2
    assert profile[0, 24] > plain[0, 24] + 0.5  # sparse streak: heavy tails


def test_a_flat_image_gives_a_finite_direction_profile():
    from trainer.estimator.model import direction_profile

    profile = direction_profile(torch.full((2, 3, 16, 16), 0.5))
    assert torch.isfinite(profile).all() and (profile == 0).all()


def test_family_outputs_for_the_task_families_of_two_or_more_ops():
    model = DegradationEstimator(CANONICAL_ORDER, stem=8, phase=4, trunk=(8, 16), hidden=32)
    assert model.families == {"blur": ["gaussian_blur", "motion_blur"],
                              "noise": ["gaussian_noise", "poisson_noise", "speckle_noise"]}
    assert model.head[-1].out_features == 2 * 7 + 2
    logits, levels, families = model.forward_with_families(torch.rand(3, 3, 16, 16))
    assert logits.shape == levels.shape == (3, 7) and families.shape == (3, 2)
    output = torch.arange(16.0)[None]
    assert model.read_head(output)[0].tolist() == [list(range(7))]
    assert model.read_families(output).tolist() == [[14.0, 15.0]]
    presence = torch.zeros(3, 7)
    presence[0, CANONICAL_ORDER.index("poisson_noise")] = 1  # noise
    presence[1, CANONICAL_ORDER.index("motion_blur")] = 1  # blur
    presence[1, CANONICAL_ORDER.index("speckle_noise")] = 1  # and noise
    presence[2, CANONICAL_ORDER.index("jpeg")] = 1  # neither
    assert model.family_presence(presence).tolist() == [[0, 1], [1, 1], [0, 0]]
    # files saved before family outputs have none; a pool of one op per family has none either
    before = {k: v for k, v in model.config.items() if k != "families"}
    assert DegradationEstimator.from_config(before).families == {}
    assert DegradationEstimator.from_config(before).head[-1].out_features == 14
    assert DegradationEstimator(["jpeg", "rain"]).families == {}
    assert DegradationEstimator.from_config(model.config).families == model.families
    with pytest.raises(ValueError, match="outside the estimator's: haze"):
        DegradationEstimator(["jpeg"], families={"x": ["jpeg", "haze"]})


def test_line_kernels_ignore_linear_intensity_and_map_onto_each_other_under_turns_and_flips():
    from trainer.estimator.model import line_kernels

    kernels = line_kernels(16, 9, 1.5).numpy()[:, 0].astype(np.float64)
    size = kernels.shape[-1]
    ys, xs = np.mgrid[0:size, 0:size]
    for kernel in kernels:
        assert abs(kernel.sum()) < 1e-6
        assert abs((kernel * (0.3 * ys - 0.7 * xs)).sum()) < 1e-5  # a ramp gives nothing
    for k in range(16):
        np.testing.assert_allclose(np.rot90(kernels[k]), kernels[(k + 8) % 16], atol=1e-6)
        np.testing.assert_allclose(kernels[k][:, ::-1], kernels[-k % 16], atol=1e-6)


@pytest.mark.parametrize("angle_step", [0, 3, 8, 12])
def test_a_rain_streak_answers_most_to_the_line_kernel_of_its_angle(angle_step):
    from degrade.rain import _render_streaks, streak_direction
    from trainer.estimator.model import line_kernels, line_responses

    # one streak drawn by the rain op's own renderer through the centre, at kernel k's angle
    dy, dx = streak_direction(180.0 * angle_step / 16)
    streak = _render_streaks(48, 48, np.array([24]), np.array([24]),
                             np.array([1.0], np.float32), 21, dy, dx)
    image = torch.from_numpy(0.4 + 0.3 * np.repeat(streak[None], 3, axis=0))[None].float()
    responses = line_responses(image, line_kernels())[0, :, 24, 24]
    assert int(responses.argmax()) == angle_step
    # up to 4 x the streak's contrast (0.3: all of it on an axis, less where bilinear weights
    # spread the streak over two pixels), every angle beyond the two neighbours far less
    assert 0.6 < responses.max().item() < 1.2 + 1e-5
    assert responses.max() > 5 * responses.abs().sort().values[-4]


def test_line_responses_equal_scipys_correlation_with_nearest_edges():
    from scipy.ndimage import correlate
    from trainer.estimator.model import line_kernels, line_responses

    image = np.random.default_rng(4).uniform(0, 1, (3, 24, 40))
    kernels = line_kernels(8, 7, 1.0)
    ours = line_responses(torch.from_numpy(image)[None].float(), kernels)[0].numpy()
    grey = image.mean(axis=0)
    for k, kernel in enumerate(kernels.numpy()[:, 0].astype(np.float64)):
        np.testing.assert_allclose(ours[k], 4 * correlate(grey, kernel, mode="nearest"),
                                   atol=1e-5)


def test_the_line_bank_feeds_the_trunk_and_older_estimators_load_without_it():
    model = DegradationEstimator(["rain"], stem=8, phase=4, trunk=(8, 16), hidden=32)
    assert model.config["line_angles"] == 16 and model.trunk[0][0].in_channels == 8 + 16
    older = DegradationEstimator.from_config(
        {k: v for k, v in model.config.items() if k != "line_angles"})
    assert older.line_angles == 0 and older.trunk[0][0].in_channels == 8
    assert "lines" not in model.state_dict()  # fixed filters, not weights
    with torch.no_grad():
        assert model(torch.rand(2, 3, 24, 16))[0].shape == (2, 1)
    with pytest.raises(ValueError, match="multiple of 4"):
        DegradationEstimator(["rain"], line_angles=6)

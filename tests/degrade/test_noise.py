"""Noise ops: statistics against their definitions, and the numba kernels against slow numpy."""
import numpy as np
import pytest
from scipy.stats import poisson

from degrade import noise
from degrade.fastrandom import fill_paired_normals, fill_uniform, splitmix64_state


def flat(value: float, size: int = 256) -> np.ndarray:
    return np.full((size, size, 3), value, np.float32)


# ---- statistics ---------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [1.0, 10.0, 30.0])
def test_gaussian_noise_std_matches_sigma(sigma):
    image = flat(0.5)
    measured = ((noise.gaussian_noise_rgb(image, sigma, False, seed=3) - image) * 255).std()
    assert measured == pytest.approx(sigma, rel=0.02)


def test_grey_gaussian_noise_is_one_field_colour_noise_is_three():
    image = flat(0.5, 64)
    grey = noise.gaussian_noise_rgb(image, 20.0, True, seed=1)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 1])
    colour = noise.gaussian_noise_rgb(image, 20.0, False, seed=1) - image
    correlation = np.corrcoef(colour[..., 0].ravel(), colour[..., 1].ravel())[0, 1]
    assert abs(correlation) < 0.05


@pytest.mark.parametrize("level, scale", [(40, 1.0), (128, 3.0), (200, 0.5)])
def test_poisson_variance_follows_level_and_scale(level, scale):
    image = flat(level / 255)
    delta = noise.poisson_noise_rgb(image, scale, False, seed=5) - image
    lam = level / 255 * 256
    assert delta.var() == pytest.approx(scale ** 2 * lam / 256 ** 2, rel=0.03)
    assert abs(delta.mean()) < 4 * scale * np.sqrt(lam) / 256 / np.sqrt(delta.size)


def test_poisson_noise_on_black_is_zero():
    image = flat(0.0, 32)
    np.testing.assert_array_equal(noise.poisson_noise_rgb(image, 3.0, False, seed=0), image)


@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_speckle_std_is_sigma_times_intensity(sigma):
    image = flat(0.4)
    delta = noise.speckle_noise_rgb(image, sigma, False, seed=2) - image
    assert delta.std() == pytest.approx(0.4 * sigma, rel=0.02)


def test_outputs_are_clipped_to_unit_range():
    for value in (0.02, 0.98):
        image = flat(value, 64)
        for out in (noise.gaussian_noise_rgb(image, 30.0, False, 0),
                    noise.poisson_noise_rgb(image, 3.0, True, 0),
                    noise.speckle_noise_rgb(image, 0.3, False, 0)):
            assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0


# ---- numba kernels against independent slow numpy references ------------------------------

def random_image(seed=0, shape=(33, 21, 3)):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def normal_reference(rgb, sigma_scale, grey, seed, multiplicative):
    """The op's math in numpy, on the op's random stream (checked in test_fastrandom.py)."""
    pixels = rgb.shape[0] * rgb.shape[1]
    field = fill_paired_normals(splitmix64_state(seed), pixels if grey else pixels * 3)
    field = np.repeat(field, 3) if grey else field
    field = field.reshape(rgb.shape)
    delta = sigma_scale * field * rgb if multiplicative else sigma_scale * field
    return np.clip(rgb + delta.astype(np.float32), 0, 1)


@pytest.mark.parametrize("grey", [False, True])
def test_gaussian_kernel_matches_numpy(grey):
    image = random_image()
    out = noise.gaussian_noise_rgb(image, 12.5, grey, seed=9)
    np.testing.assert_allclose(out, normal_reference(image, 12.5 / 255, grey, 9, False), atol=1e-7)


@pytest.mark.parametrize("grey", [False, True])
def test_speckle_kernel_matches_numpy(grey):
    image = random_image(1)
    out = noise.speckle_noise_rgb(image, 0.2, grey, seed=4)
    np.testing.assert_allclose(out, normal_reference(image, 0.2, grey, 4, True), atol=1e-7)


def poisson_reference(rgb, scale, grey, seed):
    """Real-ESRGAN's recipe with scipy's Poisson quantile function on the same uniforms."""
    if grey:
        source = (rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587)
                  + rgb[..., 2] * np.float32(0.114))[..., None]
    else:
        source = rgb
    # 8-bit levels by the project's float -> uint8 rule, float32 arithmetic as in the kernel
    quantised = np.rint(np.clip(source, 0, 1).astype(np.float32) * np.float32(255)) / 255.0
    uniforms = fill_uniform(splitmix64_state(seed), source.size)
    counts = poisson.ppf(uniforms.reshape(source.shape), quantised * 256)
    delta = (counts / 256 - quantised) * scale
    return np.clip(rgb + delta.astype(np.float32), 0, 1)


@pytest.mark.parametrize("grey", [False, True])
def test_poisson_kernel_matches_scipy_quantiles(grey):
    image = random_image(2, (40, 50, 3))
    out = noise.poisson_noise_rgb(image, 1.7, grey, seed=11)
    np.testing.assert_allclose(out, poisson_reference(image, 1.7, grey, 11), atol=1e-6)


def test_poisson_tables_are_cdfs_with_valid_guides():
    cdf, guide = noise.poisson_cdf_tables()
    assert np.all(np.diff(cdf, axis=1) >= 0) and np.all(cdf[:, -1] == 1.0)
    for level in (0, 1, 100, 255):
        lam = level / 255 * 256
        np.testing.assert_allclose(cdf[level, :400], poisson.cdf(np.arange(400), lam), atol=1e-12)
        steps = np.arange(guide.shape[1]) / guide.shape[1]
        np.testing.assert_array_equal(guide[level], np.searchsorted(cdf[level], steps, "right"))


# ---- sampling and validation -----------------------------------------------------------------

@pytest.mark.parametrize("op, key, low, high", [
    (noise.GAUSSIAN_NOISE, "sigma", 1, 30), (noise.POISSON_NOISE, "scale", 0.05, 3),
    (noise.SPECKLE_NOISE, "sigma", 0.05, 0.3)])
def test_samplers_cover_their_range_and_validate(op, key, low, high):
    rng = np.random.default_rng(0)
    draws = [op.sample_params(rng, (8, 8, 3)) for _ in range(500)]
    values = np.array([d[key] for d in draws])
    assert values.min() >= low and values.max() <= high
    assert values.min() < low + 0.05 * (high - low) and values.max() > high - 0.05 * (high - low)
    assert 0.3 < np.mean([d["grey"] for d in draws]) < 0.5
    for d in draws[:20]:
        op.validate(d)
    bad = dict(draws[0], **{key: high * 2})
    with pytest.raises(ValueError, match=f"{op.name}: {key}"):
        op.validate(bad)
    with pytest.raises(ValueError, match="missing parameter 'seed'"):
        op.validate({k: v for k, v in draws[0].items() if k != "seed"})

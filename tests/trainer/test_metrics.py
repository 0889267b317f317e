"""PSNR/SSIM against scikit-image's implementations with the paper conventions."""
import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from trainer.metrics import psnr, ssim


def _pair(seed, shape, noise):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, shape, dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, noise, shape), 0, 255).astype(np.uint8)
    return clean, noisy


@pytest.mark.parametrize("shape,noise", [((32, 32, 3), 5), ((37, 53, 3), 20), ((11, 90, 3), 60)])
def test_psnr_and_ssim_match_scikit_image(shape, noise):
    clean, noisy = _pair(1, shape, noise)
    assert psnr(noisy, clean) == pytest.approx(
        peak_signal_noise_ratio(clean, noisy, data_range=255), abs=1e-10)
    reference = structural_similarity(clean, noisy, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, data_range=255,
                                      channel_axis=-1)
    assert ssim(noisy, clean) == pytest.approx(reference, abs=1e-10)


def test_psnr_closed_form():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 5, np.uint8)  # MSE = 25
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 25))


def test_identical_images():
    image, _ = _pair(2, (16, 16, 3), 1)
    assert psnr(image, image) == math.inf
    assert ssim(image, image) == pytest.approx(1.0)


@pytest.mark.parametrize("a,b,message", [
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), "differ in shape"),
    (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), "HxWx3"),
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32), "uint8"),
])
def test_bad_inputs(a, b, message):
    with pytest.raises(ValueError, match=message):
        psnr(a, b)


def test_ssim_needs_a_full_window():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((10, 20, 3), np.uint8), np.zeros((10, 20, 3), np.uint8))


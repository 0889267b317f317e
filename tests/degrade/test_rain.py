"""Rain: brightness along the streak angle, visible length, and the numba kernels vs numpy."""
import math

import numpy as np
import pytest

from degrade import rain


def dark(size=160):
    return np.full((size, size, 3), 0.1, np.float32)


def lagged_correlation(field, dy, dx):
    """Mean product of a zero-mean field with itself shifted by (dy, dx) (integer)."""
    f = field - field.mean()
    h, w = f.shape
    a = f[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    b = f[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return float((a * b).mean())


@pytest.mark.parametrize("angle", [-60.0, 0.0, 35.0, 80.0])
def test_rain_raises_brightness_along_the_streak_angle(angle):
    image = dark()
    out = rain.rain_rgb(image, amount=200, angle=angle, length=40, alpha=0.9, seed=1)
    brighter = (out - image)[..., 0]
    assert brighter.mean() > 0.01 and brighter.min() >= -1e-7
    dy, dx = rain.streak_direction(angle)
    along = lagged_correlation(brighter, round(8 * dy), round(8 * dx))
    across = lagged_correlation(brighter, round(8 * dx), -round(8 * dy))
    assert along > 3 * abs(across)


def streak_extent(length, angle=20.0):
    """Visible length of one streak: its lit pixels' spread along the streak direction."""
    rows, cols = np.array([100]), np.array([100])
    dy, dx = rain.streak_direction(angle)
    density = rain._render_streaks(200, 200, rows, cols, np.array([1.0], np.float32),
                                   length, dy, dx)
    ys, xs = np.nonzero(density > 0.2)
    along = (ys - 100) * dy + (xs - 100) * dx
    return along.max() - along.min()


def test_visible_streak_length_grows_with_the_length_parameter():
    extents = [streak_extent(length) for length in (10, 30, 60, 90)]
    for length, extent in zip((10, 30, 60, 90), extents):
        assert abs(extent - length) <= 2
    lit = [(rain.rain_rgb(dark(), 50, 10.0, length, 1.0, seed=3) > 0.15).mean()
           for length in (10, 45, 90)]
    assert lit[0] < lit[1] < lit[2] and lit[2] > 4 * lit[0]


def test_more_amount_more_rain():
    lit = [(rain.rain_rgb(dark(), amount, 0.0, 20, 1.0, seed=4) > 0.15).mean()
           for amount in (10, 100, 1000)]
    assert lit[0] < lit[1] < lit[2]


def render_reference(height, width, rows, cols, brightness, length, dy, dx):
    """Slow numpy splatting: the same bilinear samples, accumulated with np.add.at."""
    density = np.zeros((height, width), np.float64)
    t = np.arange(length + 1) - length / 2
    for row, col, b in zip(rows, cols, brightness):
        y, x = row + t * dy, col + t * dx
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        for oy in (0, 1):
            for ox in (0, 1):
                wy = (y - y0) if oy else 1 - (y - y0)
                wx = (x - x0) if ox else 1 - (x - x0)
                yy, xx = y0 + oy, x0 + ox
                inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
                np.add.at(density, (yy[inside], xx[inside]), b * wy[inside] * wx[inside])
    return density


def test_render_kernel_matches_numpy_reference():
    rows, cols, brightness = rain.streak_seeds(50, 70, amount=800, length=33, seed=7)
    dy, dx = rain.streak_direction(-47.0)
    fast = rain._render_streaks(50, 70, rows, cols, brightness, 33, dy, dx)
    slow = render_reference(50, 70, rows, cols, brightness.astype(np.float64), 33, dy, dx)
    np.testing.assert_allclose(fast, slow, atol=2e-5)


def test_blend_kernel_matches_numpy_reference():
    rng = np.random.default_rng(0)
    image = rng.random((20, 30, 3), dtype=np.float32)
    density = (rng.random((20, 30)) * 1.5).astype(np.float32)
    r = (density / max(1.0, density.max()))[..., None]
    expected = np.clip(image * (1 - r) + np.float32(1.2) * r, 0, 1)
    np.testing.assert_allclose(rain._blend_rain(image, density, 1.2), expected, atol=1e-6)


def test_blend_normalises_piled_up_streaks_but_not_light_rain():
    image = np.zeros((4, 4, 3), np.float32)
    light = np.full((4, 4), 0.5, np.float32)
    np.testing.assert_allclose(rain._blend_rain(image, light, 1.0), 0.5, atol=1e-6)
    heavy = np.full((4, 4), 2.0, np.float32)
    heavy[0, 0] = 4.0
    out = rain._blend_rain(image, heavy, 1.0)
    assert out[0, 0, 0] == 1.0 and abs(out[1, 1, 0] - 0.5) < 1e-6


def test_heavy_rain_leaves_the_image_visible():
    # Without normalisation the densest settings turned whole tiles white (PSNR ~5 dB).
    image = np.full((128, 128, 3), 0.3, np.float32)
    out = rain.rain_rgb(image, amount=1000, angle=10.0, length=90, alpha=1.0, seed=3)
    assert out.mean() < 0.75


def test_seed_density_matches_amount():
    rows, _, brightness = rain.streak_seeds(500, 500, amount=512, length=10, seed=0)
    pad = 10 // 2 + 2
    expected = (500 + 2 * pad) ** 2 * 512 / 25600
    assert abs(len(rows) - expected) < 5 * math.sqrt(expected)
    assert brightness.min() >= 0.5 and brightness.max() <= 1.0


def test_rain_params_sample_and_validate():
    rng = np.random.default_rng(0)
    for _ in range(200):
        params = rain.RAIN.sample_params(rng, (32, 32, 3))
        rain.RAIN.validate(params)
    with pytest.raises(ValueError, match="rain: length"):
        rain.RAIN.validate(dict(params, length=91))
    with pytest.raises(ValueError, match="rain: angle"):
        rain.RAIN.validate(dict(params, angle=-81.0))

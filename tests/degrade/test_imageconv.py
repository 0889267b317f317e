import numpy as np
import pytest

from degrade.imageconv import from_float_rgb, to_float_rgb


def test_uint8_and_uint16_round_trip_exactly():
    rng = np.random.default_rng(0)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        image = rng.integers(0, top + 1, (5, 7, 3)).astype(dtype)
        rgb, layout = to_float_rgb(image)
        assert rgb.dtype == np.float32 and rgb.shape == (5, 7, 3) and rgb.flags.c_contiguous
        np.testing.assert_array_equal(from_float_rgb(rgb, layout), image)


def test_grey_becomes_three_equal_channels_and_returns_grey():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb, layout = to_float_rgb(grey)
    assert rgb.shape == (3, 4, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(from_float_rgb(rgb, layout), grey)
    single = grey[:, :, None]
    rgb, layout = to_float_rgb(single)
    assert from_float_rgb(rgb, layout).shape == (3, 4, 1)


def test_grey_output_is_bt601_luma():
    rgb = np.zeros((1, 1, 3), np.float32)
    rgb[0, 0] = (1.0, 0.0, 0.0)
    _, layout = to_float_rgb(np.zeros((1, 1), np.uint8))
    assert from_float_rgb(rgb, layout)[0, 0] == round(0.299 * 255)


def test_alpha_passes_through_untouched():
    rgba = np.random.default_rng(1).integers(0, 65536, (4, 5, 4)).astype(np.uint16)
    rgb, layout = to_float_rgb(rgba)
    assert rgb.shape == (4, 5, 3)
    out = from_float_rgb(np.zeros_like(rgb), layout)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    assert not out[..., :3].any()


def test_float_inputs_are_clipped_and_keep_dtype():
    image = np.array([[[-0.5, 0.5, 2.0]]], np.float64)
    rgb, layout = to_float_rgb(image)
    np.testing.assert_array_equal(rgb[0, 0], [0.0, 0.5, 1.0])
    assert from_float_rgb(rgb, layout).dtype == np.float64


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 4, 2), np.uint8), "shape"),
    (np.zeros((0, 4, 3), np.uint8), "empty"),
    (np.zeros((4, 4, 3), np.int32), "dtype"),
    (np.full((2, 2, 3), np.nan, np.float32), "NaN"),
    ([[1, 2]], "numpy array"),
])
def test_bad_images_are_rejected_with_a_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        to_float_rgb(bad)


def test_fused_conversions_match_numpy():
    from degrade.imageconv import float_to_uint8, uint8_to_float

    rng = np.random.default_rng(3)
    values = rng.uniform(-0.1, 1.1, (17, 9, 3)).astype(np.float32)
    values[1, :, 0] = (np.arange(9) + 0.5) / np.float32(255)  # more exact halves
    values[0, 0] = [0.5 / 255, 1.5 / 255, 254.5 / 255]  # halves round to even, as np.rint
    expected = np.clip(np.rint(values * np.float32(255)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(float_to_uint8(values), expected)
    image = rng.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    np.testing.assert_array_equal(uint8_to_float(image), image.astype(np.float32) / np.float32(255))
    levels = np.arange(256, dtype=np.uint8)  # every level: the kernel multiplies in float64
    np.testing.assert_array_equal(uint8_to_float(levels), levels.astype(np.float32) / np.float32(255))

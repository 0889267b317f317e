import cv2
import numpy as np
import pytest

from degrade.jpeg import JPEG, jpeg, jpeg_rgb


def as_float(image):
    return image.astype(np.float32) / 255


def test_jpeg_changes_the_image_and_improves_with_quality(textured):
    image = as_float(textured(64, 96))
    errors = [np.abs(jpeg_rgb(image, q) - image).mean() for q in (30, 60, 95)]
    assert errors[0] > 0
    assert errors[0] > errors[1] > errors[2]


def test_jpeg_is_libjpeg_on_the_rgb_image_in_bgr_order(textured):
    image = textured(40, 56)
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 50])
    expected = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(jpeg(image, 50), expected)


def test_jpeg_params_are_integers_in_range():
    rng = np.random.default_rng(0)
    qualities = {JPEG.sample_params(rng, (8, 8, 3))["quality"] for _ in range(2000)}
    assert qualities == set(range(30, 96))
    with pytest.raises(ValueError, match="jpeg: quality"):
        JPEG.validate({"quality": 96})
    with pytest.raises(ValueError, match="jpeg: quality must be an integer"):
        JPEG.validate({"quality": 50.5})

"""pipelines.codecs: lossless PNG and .npy images (PNG decoding itself: test_pngdecode.py)."""
import io

import numpy as np
import pytest

from pipelines.codecs import CodecError, decode_image, decode_npy, encode_image, encode_npy


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_images_round_trip_exactly(fmt):
    image = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_image(image, fmt), fmt), image)


def test_npy_is_what_numpy_writes_and_reads():
    image = np.random.default_rng(2).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    data = encode_npy(image)
    assert np.array_equal(np.load(io.BytesIO(data), allow_pickle=False), image)
    fortran = io.BytesIO()
    np.save(fortran, np.asfortranarray(image))  # another header: numpy's own reader takes it
    assert np.array_equal(decode_npy(fortran.getvalue()), image)


def test_npy_that_is_not_a_uint8_rgb_image_is_refused():
    with pytest.raises(CodecError, match="payload holds"):
        decode_npy(encode_npy(np.zeros((4, 4, 3), np.uint8))[:-5])
    wrong = io.BytesIO()
    np.save(wrong, np.zeros((4, 4), np.float32))
    with pytest.raises(CodecError, match="expected uint8 HxWx3"):
        decode_npy(wrong.getvalue())
    with pytest.raises(CodecError, match="not a .npy array"):
        decode_npy(b"not numpy at all")

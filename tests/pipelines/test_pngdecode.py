"""The fast PNG decoder against OpenCV's and against a plain-numpy PNG writer with every row filter."""
import io
import struct
import sys
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from pipelines.codecs import CodecError, decode_png
from pipelines.pngdecode import PngError, decode_rgb8


def chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def filter_rows(rgb: np.ndarray, filters: list[int]) -> bytes:
    """The PNG row filters written out from the specification, slowly, one byte at a time."""
    height, width, _ = rgb.shape
    rows = rgb.reshape(height, width * 3).astype(np.int64)
    out = bytearray()
    for y, kind in enumerate(filters):
        out.append(kind)
        for i in range(width * 3):
            a = rows[y, i - 3] if i >= 3 else 0
            b = rows[y - 1, i] if y > 0 else 0
            c = rows[y - 1, i - 3] if y > 0 and i >= 3 else 0
            if kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                predictor = (0, a, b, (a + b) // 2)[kind]
            out.append((rows[y, i] - predictor) % 256)
    return bytes(out)


def write_png(rgb: np.ndarray, filters: list[int], idat_size: int | None = None,
              ihdr: tuple | None = None) -> bytes:
    height, width, _ = rgb.shape
    stream = zlib.compress(filter_rows(rgb, filters), 6)
    pieces = [stream] if idat_size is None else [stream[i:i + idat_size] for i in range(0, len(stream), idat_size)]
    fields = ihdr or (width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", *fields))
            + chunk(b"tEXt", b"Comment\0made by a test") + b"".join(chunk(b"IDAT", p) for p in pieces)
            + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def opencv_rgb(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


def picture(height=13, width=17, seed=0):
    rng = np.random.default_rng(seed)
    smooth = np.add.outer(np.arange(height), np.arange(width))[..., None] * np.array([3, 7, 11])
    return ((smooth + rng.integers(0, 60, (height, width, 3))) % 256).astype(np.uint8)


@pytest.mark.parametrize("filters", ["each", "mixed"])
def test_every_row_filter_decodes_like_opencv_and_the_original(filters):
    rgb = picture()
    kinds = [y % 5 for y in range(rgb.shape[0])] if filters == "mixed" else None
    for kind in ([None] if kinds else range(5)):
        data = write_png(rgb, kinds or [kind] * rgb.shape[0], idat_size=50)
        decoded = decode_rgb8(data)
        assert np.array_equal(decoded, rgb) and np.array_equal(decoded, opencv_rgb(data))


def test_pngs_of_opencv_and_pillow_decode_identically():
    rgb = picture(64, 48, seed=1)
    ok, opencv_png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=True)
    for data in (opencv_png.tobytes(), buffer.getvalue()):
        assert np.array_equal(decode_rgb8(data), rgb)
        assert np.array_equal(decode_png(memoryview(data)), rgb)


def test_other_png_kinds_are_left_to_opencv():
    rgb = picture()
    kinds = {"grey": (8, 0, 0), "rgba": (8, 6, 0), "interlaced": (8, 2, 1), "16-bit": (16, 2, 0)}
    for name, (depth, colour, interlace) in kinds.items():
        data = write_png(rgb, [0] * 13, ihdr=(17, 13, depth, colour, 0, 0, interlace))
        assert decode_rgb8(data) is None, name
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(buffer, format="PNG")  # palette: OpenCV expands it
    palette = buffer.getvalue()
    assert decode_rgb8(palette) is None
    assert np.array_equal(decode_png(palette), np.asarray(Image.open(io.BytesIO(palette)).convert("RGB")))


def test_damage_is_an_error_never_wrong_pixels():
    rgb = picture()
    good = write_png(rgb, [1] * 13)
    idat = good.index(b"IDAT") + 4
    flipped = bytearray(good)
    flipped[idat + 20] ^= 0x01  # inside the compressed pixels: inflate or the Adler-32 check fails
    cases = {"flipped pixel byte": bytes(flipped), "truncated": good[:idat + 30],
             "no signature": good[8:], "bad header CRC": good[:20] + b"\xff" + good[21:],
             "header claims more rows": write_png(rgb, [1] * 13, ihdr=(17, 14, 8, 2, 0, 0, 0))}
    stream = bytearray(filter_rows(rgb, [0] * 13))
    stream[0] = 7  # filter type 7 does not exist
    cases["unknown filter"] = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 17, 13, 8, 2, 0, 0, 0))
                               + chunk(b"IDAT", zlib.compress(bytes(stream))) + chunk(b"IEND", b""))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 17, 13, 8, 2, 0, 0, 0))
    unchecked = zlib.compress(filter_rows(rgb, [0] * 13))[:-4]  # every pixel, but no Adler-32
    cases["no checksum"] = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", unchecked) + chunk(b"IEND", b"")
    for name, data in cases.items():
        with pytest.raises(PngError):
            decode_rgb8(data)
        with pytest.raises(CodecError):
            decode_png(data)


def test_standard_library_zlib_gives_the_same_pixels_without_isal(monkeypatch):
    rgb = picture(9, 31, seed=2)
    data = write_png(rgb, [4, 3, 2, 1, 0, 4, 4, 1, 2])
    monkeypatch.setitem(sys.modules, "isal", None)  # `from isal import isal_zlib` now raises ImportError
    assert np.array_equal(decode_rgb8(data), rgb)

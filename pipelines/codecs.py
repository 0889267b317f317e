"""Lossless image codecs for shard members: PNG and .npy, both uint8 RGB HxWx3.

PNG is encoded by OpenCV and decoded by pipelines.pngdecode (OpenCV for PNG kinds it does not
handle); .npy by numpy, with a header parser of its own for the one header shards hold.
"""
from __future__ import annotations

import io
import re

import numpy as np

from degrade.errors import KitError

FORMATS = ("png", "npy")


class CodecError(KitError, ValueError):
    """Bytes that do not decode to a uint8 HxWx3 image."""


def encode_png(rgb: np.ndarray) -> bytes:
    import cv2

    # cvtColor is SIMD; a numpy [..., ::-1] copy would add a measurable share of the encode.
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise CodecError("OpenCV could not encode the PNG")
    return buffer.tobytes()


def decode_png(data: bytes | memoryview) -> np.ndarray:
    """Our own decoder for plain 8-bit RGB PNGs (what shards hold; faster than OpenCV), OpenCV
    for any other kind (palette, interlaced; grey, 16-bit and alpha are then refused)."""
    import cv2

    from pipelines.pngdecode import PngError, decode_rgb8

    try:
        rgb = decode_rgb8(data)
    except PngError as error:
        raise CodecError(str(error)) from None
    if rgb is not None:
        return rgb
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if bgr is None or bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise CodecError("not an 8-bit RGB PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_npy(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(rgb, dtype=np.uint8), allow_pickle=False)
    return buffer.getvalue()


_NPY_HEADER = re.compile(rb"\{'descr': '\|u1', 'fortran_order': False, 'shape': \((\d+), (\d+), 3\), \} *\n")


def decode_npy(data: bytes | memoryview) -> np.ndarray:
    fast = _decode_own_npy(data)
    if fast is not None:
        return fast
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - numpy raises several types for bad bytes
        raise CodecError(f"not a .npy array ({error})") from None
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise CodecError(f"expected uint8 HxWx3, got {array.dtype} {array.shape}")
    return array


def _decode_own_npy(data: bytes) -> np.ndarray | None:
    """The exact header np.save writes for uint8 HxWx3 (format 1.0), parsed without
    ast.literal_eval, which otherwise costs more than reading the pixels; None if not that."""
    if len(data) < 10 or bytes(data[:8]) != b"\x93NUMPY\x01\x00":
        return None
    header_end = 10 + int.from_bytes(bytes(data[8:10]), "little")
    match = _NPY_HEADER.fullmatch(bytes(data[10:header_end]))
    if match is None:
        return None
    height, width = int(match.group(1)), int(match.group(2))
    if len(data) - header_end != height * width * 3:
        raise CodecError(f".npy payload holds {len(data) - header_end} bytes, header says {height}x{width}x3")
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(height, width, 3)


ENCODERS = {"png": encode_png, "npy": encode_npy}
DECODERS = {"png": decode_png, "npy": decode_npy}


def encode_image(rgb: np.ndarray, fmt: str) -> bytes:
    return ENCODERS[fmt](rgb)


def decode_image(data: bytes, fmt: str) -> np.ndarray:
    return DECODERS[fmt](data)


"""Decoding the plain 8-bit RGB PNGs that shards hold, faster than OpenCV (docs/benchmarks.md).

A PNG decode is mostly inflating its zlib stream. ISA-L (the `isal` package) inflates faster
than zlib, and its streaming decompressor releases the GIL, so decode threads
scale; the row filters are undone in one compiled pass. The zlib stream's Adler-32 checksum
covers every pixel byte, so damaged data still fails loudly. Anything other than a
non-interlaced 8-bit RGB PNG returns None, for the caller to hand to OpenCV.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
from numba import njit

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 1 << 30  # OpenCV's default CV_IO_MAX_IMAGE_PIXELS
RGB8 = (8, 2, 0, 0, 0)  # bit depth, colour type (truecolour), compression, filter method, no interlace


class PngError(ValueError):
    """A PNG that is damaged or truncated."""


def _decompressor() -> tuple[object, type[Exception]]:
    """A streaming zlib decompressor and the error type it raises."""
    try:
        from isal import isal_zlib
    except ImportError:  # no wheel for this platform: the standard library is as correct, slower
        return zlib.decompressobj(), zlib.error
    return isal_zlib.decompressobj(), isal_zlib.error


def decode_rgb8(data: bytes | memoryview) -> np.ndarray | None:
    """uint8 HxWx3 RGB for a non-interlaced 8-bit RGB PNG; None for any other PNG kind.

    Raises PngError when the bytes are not a whole, undamaged PNG."""
    view = memoryview(data)
    if bytes(view[:8]) != SIGNATURE:
        raise PngError("no PNG signature")
    header, idat = _chunks(view)
    width, height, *kind = struct.unpack(">IIBBBBB", header)
    if tuple(kind) != RGB8:
        return None
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise PngError(f"PNG claims {width}x{height} pixels")
    stride = 3 * width
    expected = height * (stride + 1)  # one filter-type byte before each row
    raw = _inflate(idat, expected)
    image = np.empty((height, width, 3), dtype=np.uint8)
    if not _unfilter(np.frombuffer(raw, dtype=np.uint8), height, stride, image.reshape(-1)):
        raise PngError("unknown PNG row filter")
    return image


def _chunks(view: memoryview) -> tuple[bytes, list[memoryview]]:
    """(IHDR payload, IDAT payloads in order), checking the chunk layout and IHDR's CRC."""
    position, header, idat = 8, None, []
    while True:
        if position + 12 > len(view):
            raise PngError("truncated PNG (no IEND chunk)")
        length = int.from_bytes(view[position:position + 4], "big")
        kind = bytes(view[position + 4:position + 8])
        end = position + 12 + length
        if end > len(view):
            raise PngError(f"truncated PNG ({kind.decode('latin-1')} chunk runs past the end)")
        payload = view[position + 8:position + 8 + length]
        if header is None:
            stored_crc = int.from_bytes(view[end - 4:end], "big")
            if kind != b"IHDR" or length != 13 or zlib.crc32(view[position + 4:end - 4]) != stored_crc:
                raise PngError("damaged PNG header")
            header = bytes(payload)
        elif kind == b"IDAT":
            idat.append(payload)
        elif kind == b"IEND":
            return header, idat
        position = end


def _inflate(idat: list[memoryview], expected: int) -> bytes:
    (decompressor, error_type), parts, produced = _decompressor(), [], 0
    try:
        for payload in idat:
            # never more than the image needs: a hostile stream cannot balloon
            part = decompressor.decompress(payload, expected + 1 - produced)
            parts.append(part)
            produced += len(part)
            if produced > expected:
                break
    except error_type as error:
        raise PngError(f"damaged PNG pixel data ({error})") from None
    if produced != expected or not decompressor.eof:
        raise PngError(f"PNG pixel data holds {produced} bytes, the header implies {expected}"
                       if produced != expected else "PNG pixel data stops before its checksum")
    return parts[0] if len(parts) == 1 else b"".join(parts)


@njit(cache=True, nogil=True)
def _unfilter(raw, height, stride, out):  # pragma: no cover - compiled
    """Undo the PNG row filters (None, Sub, Up, Average, Paeth) for 3 bytes per pixel.

    Rows are sliced and indexed from 0 (provably non-negative indices skip numba's wraparound
    checks) and running values are uint32 masked at the store (uint8 casts in the loop are
    several times slower); Sub is the filter OpenCV picks for photographs."""
    zeros = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        target = out[y * stride:(y + 1) * stride]
        prior = out[(y - 1) * stride:y * stride] if y > 0 else zeros
        if kind == 0:
            target[:] = line
        elif kind == 1:
            red = green = blue = np.uint32(0)
            for pixel in range(stride // 3):
                red += line[3 * pixel]
                green += line[3 * pixel + 1]
                blue += line[3 * pixel + 2]
                target[3 * pixel] = red & 255
                target[3 * pixel + 1] = green & 255
                target[3 * pixel + 2] = blue & 255
        elif kind == 2:
            for i in range(stride):
                target[i] = (np.uint32(line[i]) + prior[i]) & 255
        elif kind == 3:
            for i in range(3):
                target[i] = (np.uint32(line[i]) + (prior[i] >> 1)) & 255
            for i in range(3, stride):
                target[i] = (np.uint32(line[i]) + ((np.uint32(target[i - 3]) + prior[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(3):
                target[i] = (np.uint32(line[i]) + prior[i]) & 255  # Paeth of (0, up, 0) is up
            for i in range(3, stride):
                a, b, c = np.int32(target[i - 3]), np.int32(prior[i]), np.int32(prior[i - 3])
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                predictor = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                target[i] = (np.int32(line[i]) + predictor) & 255
        else:
            return False
    return True

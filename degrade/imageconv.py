"""Conversions between the image layouts callers hand in and the ops' float32 RGB working form.

Accepted inputs (numpy arrays, H, W >= 1):
- dtypes: uint8 (0..255), uint16 (0..65535), float16/32/64 (nominally [0, 1]; values outside
  are clipped on the way in, NaN or inf is rejected).
- shapes: HxW or HxWx1 (grey), HxWx3 (RGB), HxWx4 (RGBA).

Behaviour:
- Ops see float32 HxWx3 C-contiguous in [0, 1]. Grey inputs are repeated to three equal
  channels, and the result is turned back into grey with ITU-R BT.601 luma (the weights OpenCV's
  RGB2GRAY uses), so colour noise on a grey image arrives damped to its luma.
- The alpha channel of RGBA is passed through untouched (same values, same dtype); only RGB is
  degraded.
- Output has the input's dtype and shape. Integer outputs are clip(rint(x * max), 0, max)
  (max = 255 or 65535); float outputs are the float32 result cast to the input's float dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

_INTEGER_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
_FLOAT_DTYPES = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)}
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class ImageLayout:
    """What to_float_rgb removed from an image, so from_float_rgb can put it back."""

    dtype: np.dtype
    shape: tuple[int, ...]
    alpha: np.ndarray | None = None

    @property
    def grey(self) -> bool:
        return len(self.shape) == 2 or self.shape[2] == 1


def check_image(image) -> None:
    """Raise ValueError with a one-line reason if `image` is not an accepted layout."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype not in _INTEGER_MAX and image.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"image dtype {image.dtype} is not supported "
                         "(use uint8, uint16, float16, float32 or float64)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image shape {image.shape} is not HxW, HxWx1, HxWx3 or HxWx4")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image shape {image.shape} is empty")


@numba.njit(cache=True, nogil=True)
def _uint8_to_float_kernel(values, out):
    # For the 256 levels, the float64 product rounded to float32 is exactly float32 x / 255 (a
    # test checks all of them), and it vectorises where a float32 division does not.
    for i in range(values.size):
        out[i] = np.float32(np.float64(values[i]) * (1.0 / 255.0))


# Adding and subtracting 1.5 * 2**23 rounds a float32 in [0, 2**22) to the nearest integer,
# ties to even, exactly as np.rint does, without a libm call per value (IEEE round-to-nearest;
# numba keeps fastmath off, so the two additions are not folded away).
ROUNDING_MAGIC_F32 = np.float32(12582912.0)


@numba.njit(cache=True, nogil=True, inline="always")
def unit_to_uint8(value):
    """clip(rint(value * 255), 0, 255) as uint8, for a float32 value."""
    v = min(max(value * np.float32(255.0), np.float32(0.0)), np.float32(255.0))
    return np.uint8((v + ROUNDING_MAGIC_F32) - ROUNDING_MAGIC_F32)


@numba.njit(cache=True, nogil=True)
def _float_to_uint8_kernel(values, out):
    for i in range(values.size):
        out[i] = unit_to_uint8(values[i])


def uint8_to_float(image: np.ndarray) -> np.ndarray:
    """float32 x / 255 of a uint8 array of any shape, in one pass: the one uint8 -> float rule
    of the project (same values as numpy's astype then divide; also the tensors' rule)."""
    out = np.empty(image.shape, np.float32)
    _uint8_to_float_kernel(np.ascontiguousarray(image).reshape(-1), out.reshape(-1))
    return out


def _to_float32(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint8 and values.ndim == 3 and values.shape[2] == 3:
        return uint8_to_float(values)
    if values.dtype in _INTEGER_MAX:
        return values.astype(np.float32) / np.float32(_INTEGER_MAX[values.dtype])
    if not np.isfinite(values).all():
        raise ValueError("image holds NaN or infinite values")
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def to_float_rgb(image: np.ndarray) -> tuple[np.ndarray, ImageLayout]:
    """(float32 HxWx3 C-contiguous RGB in [0, 1], layout to restore the caller's format)."""
    check_image(image)
    alpha = None
    colour = image
    if image.ndim == 2:
        colour = image[:, :, None]
    elif image.shape[2] == 4:
        colour, alpha = image[:, :, :3], image[:, :, 3].copy()
    rgb = _to_float32(colour)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.ascontiguousarray(rgb), ImageLayout(image.dtype, image.shape, alpha)


def float_to_uint8(rgb: np.ndarray) -> np.ndarray:
    """clip(rint(x * 255), 0, 255) as uint8: the one float -> 8-bit rule of the project, in one
    vectorised pass over a float32 array."""
    if rgb.dtype != np.float32:
        return np.clip(np.rint(rgb * np.float32(255)), 0, 255).astype(np.uint8)
    out = np.empty(rgb.shape, np.uint8)
    _float_to_uint8_kernel(np.ascontiguousarray(rgb).reshape(-1), out.reshape(-1))
    return out


def _from_float32(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint8:
        return float_to_uint8(values)
    if dtype in _INTEGER_MAX:
        top = _INTEGER_MAX[dtype]
        return np.clip(np.rint(values * np.float32(top)), 0, top).astype(dtype)
    return np.clip(values, 0.0, 1.0).astype(dtype)


def from_float_rgb(rgb: np.ndarray, layout: ImageLayout) -> np.ndarray:
    """Undo to_float_rgb: back to the caller's dtype and shape (grey via luma, alpha re-attached)."""
    if layout.grey:
        luma = rgb @ LUMA_WEIGHTS
        out = _from_float32(luma, layout.dtype)
        return out if len(layout.shape) == 2 else out[:, :, None]
    out = _from_float32(rgb, layout.dtype)
    if layout.alpha is not None:
        out = np.concatenate([out, layout.alpha[:, :, None]], axis=2)
    return out


def apply_on_any_image(core: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    """Run a float32-RGB function on any accepted image, returning the image's own layout."""
    rgb, layout = to_float_rgb(image)
    return from_float_rgb(core(rgb), layout)

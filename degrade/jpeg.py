"""JPEG compression artefacts: a real libjpeg encode and decode through OpenCV.

quality in [30, 95] (CoLoRA patent / Real-ESRGAN), an integer as libjpeg takes it. The image is
rounded to 8 bits first (JPEG is an 8-bit codec), encoded as BGR so OpenCV's RGB->YCbCr
conversion sees the right channel order, and decoded back to float32 RGB.
"""
from __future__ import annotations

import cv2
import numpy as np

from degrade.imageconv import apply_on_any_image, float_to_uint8, uint8_to_float
from degrade.op import Op, Param, Params, Severity
from degrade.paramcheck import check_int, check_keys

QUALITY_RANGE = (30, 95)


def jpeg_rgb(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode float32 HxWx3 RGB in [0, 1] as JPEG at `quality` and decode it again."""
    bgr = cv2.cvtColor(float_to_uint8(rgb), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"jpeg: OpenCV could not encode a {rgb.shape} image")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR_RGB)
    return uint8_to_float(decoded)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip at `quality` on any accepted image layout."""
    return apply_on_any_image(lambda rgb: jpeg_rgb(rgb, quality), image)


def _sample_jpeg(rng: np.random.Generator, image_shape) -> Params:
    return {"quality": int(rng.integers(QUALITY_RANGE[0], QUALITY_RANGE[1] + 1))}


def _validate_jpeg(params: Params) -> None:
    check_keys("jpeg", params, ("quality",))
    check_int("jpeg", params, "quality", *QUALITY_RANGE)


# Level 1 - quality / 100 stretched over the sampled range's lower end: quality 100 -> 0,
# 30 -> 1. Above quality 90 the artefacts are imperceptible on 8-bit photographs.
def params_at_quality(quality: float, rng: np.random.Generator) -> Params:
    """A JPEG round trip at `quality` (an integer in [1, 100]; sampled range [30, 95])."""
    if float(quality) != round(float(quality)) or not 1 <= quality <= 100:
        raise ValueError(f"jpeg: quality {quality:g} must be an integer in [1, 100]")
    return {"quality": int(round(float(quality)))}


SEVERITY = Severity("quality", lambda p: float(p["quality"]), 100.0, float(QUALITY_RANGE[0]),
                    90.0, params_at_quality, "quality", integral=True)

JPEG = Op("jpeg", lambda rgb, p: jpeg_rgb(rgb, **p), _sample_jpeg, _validate_jpeg, SEVERITY, params=(
    Param("quality", "integer", "libjpeg quality factor of the encode", "libjpeg quality (1-100)",
          *QUALITY_RANGE),))

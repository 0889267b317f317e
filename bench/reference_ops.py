"""Reference noise, JPEG and rain ops written the way BasicSR (degradations.py) and the widely
used rain snippet do them: plain numpy with the legacy global-style RandomState, float64
temporaries, and OpenCV calls. Same math and parameters as degrade.noise, degrade.jpeg and
degrade.rain, none of their speed-ups, so the benchmark compares like with like.

Each takes a float32 HxWx3 RGB image in [0, 1] and the op's params dict, and returns float32.
The random fields differ from the engine's (different generators); the distributions match.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def _legacy_rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed % 2**32)


def reference_gaussian_noise(image: np.ndarray, params: dict) -> np.ndarray:
    rng = _legacy_rng(params["seed"])
    sigma = params["sigma"]
    if params["grey"]:
        noise = np.float32(rng.randn(*image.shape[:2])) * sigma / 255.0
        noise = np.expand_dims(noise, axis=2).repeat(3, axis=2)
    else:
        noise = np.float32(rng.randn(*image.shape)) * sigma / 255.0
    return np.clip(image + noise, 0, 1)


def reference_poisson_noise(image: np.ndarray, params: dict) -> np.ndarray:
    """Real-ESRGAN: grey via cvtColor, 8-bit rounding, poisson(img * vals) / vals, vals = 256.
    (BasicSR also counts np.unique levels to pick vals; that sort is left out, which only makes
    this reference faster.)"""
    rng = _legacy_rng(params["seed"])
    source = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if params["grey"] else image
    source = np.clip((source * 255.0).round(), 0, 255) / 255.0
    vals = 256.0
    out = np.float32(rng.poisson(source * vals) / vals)
    noise = out - source
    if params["grey"]:
        noise = np.repeat(noise[:, :, np.newaxis], 3, axis=2)
    return np.clip(image + noise * params["scale"], 0, 1).astype(np.float32)


def reference_speckle_noise(image: np.ndarray, params: dict) -> np.ndarray:
    rng = _legacy_rng(params["seed"])
    shape = image.shape[:2] if params["grey"] else image.shape
    noise = np.float32(rng.randn(*shape)) * params["sigma"]
    if params["grey"]:
        noise = np.expand_dims(noise, axis=2).repeat(3, axis=2)
    return np.clip(image + image * noise, 0, 1)


def reference_jpeg(image: np.ndarray, params: dict) -> np.ndarray:
    """BasicSR's add_jpg_compression, on RGB (reversed to the BGR OpenCV expects and back).
    BasicSR hands imencode img * 255. as float; OpenCV 5 warns and rounds it to uint8, which
    is done here explicitly."""
    bgr = (np.clip(image, 0, 1)[..., ::-1] * 255.0).round().astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), params["quality"]])
    return np.float32(cv2.imdecode(encoded, 1)[..., ::-1]) / 255.0


def reference_streak_kernel(length: int, angle: float) -> np.ndarray:
    """The line kernel: length + 1 unit-spaced samples centred on the kernel centre, splatted
    bilinearly (the engine's streak shape), as one 2-D array for cv2.filter2D."""
    radius = length // 2 + 2
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float64)
    theta = math.radians(angle)
    t = np.arange(length + 1) - length / 2
    y, x = radius + t * math.cos(theta), radius + t * math.sin(theta)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0
    np.add.at(kernel, (y0, x0), (1 - fy) * (1 - fx))
    np.add.at(kernel, (y0, x0 + 1), (1 - fy) * fx)
    np.add.at(kernel, (y0 + 1, x0), fy * (1 - fx))
    np.add.at(kernel, (y0 + 1, x0 + 1), fy * fx)
    return kernel


def reference_rain(image: np.ndarray, params: dict) -> np.ndarray:
    """The snippet's recipe: threshold a uniform field into seeds (on a padded canvas), smear
    them with cv2.filter2D and a line kernel, normalise by the maximum and blend img * (1 - r) + alpha * r."""
    rng = _legacy_rng(params["seed"])
    height, width = image.shape[:2]
    length = params["length"]
    pad = length // 2 + 2
    field = rng.uniform(0, 1, (height + 2 * pad, width + 2 * pad))
    seeds = np.where(field < params["amount"] / 25600.0, rng.uniform(0.5, 1.0, field.shape), 0.0)
    kernel = reference_streak_kernel(length, params["angle"])[::-1, ::-1]  # convolution
    density = cv2.filter2D(seeds.astype(np.float32), -1, kernel.astype(np.float32),
                           borderType=cv2.BORDER_CONSTANT)[pad:pad + height, pad:pad + width]
    rain = (density / max(1.0, float(density.max())))[:, :, np.newaxis]
    return np.clip(image * (1 - rain) + params["alpha"] * rain, 0, 1).astype(np.float32)


REFERENCES = {
    "gaussian_noise": reference_gaussian_noise,
    "poisson_noise": reference_poisson_noise,
    "speckle_noise": reference_speckle_noise,
    "jpeg": reference_jpeg,
    "rain": reference_rain,
}

"""Pieces shared by the space, preview and apply commands: pool options, image files.

Imports only click and the standard library at top level; OpenCV and numpy load inside the
functions that need them, so `degrade --help` stays instant.
"""
from __future__ import annotations

from pathlib import Path

import click

from degrade.registry import ops_help

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


def pool_options(command):
    """--ops, --k and --n, shared by every command that draws chains."""
    command = click.option("--n", "max_length", type=int, default=6, show_default=True,
                           help="Maximum chain length N (>= 1).")(command)
    command = click.option("--k", type=int, default=None,
                           help="Keep the first K ops of the pool (default: all of it).")(command)
    command = click.option("--ops", default=None,
                           help="Comma-separated op pool, e.g. 'jpeg,rain'. Ops: "
                                f"{ops_help()}.")(command)
    return command


def resolve_pool_option(ops: str | None, k: int | None, max_length: int) -> list[str]:
    """The op pool named by --ops/--k, checking N too; click errors (exit 2) name the option."""
    from degrade.registry import resolve_pool

    if max_length < 1:
        raise click.BadParameter(f"N must be >= 1, got {max_length}", param_hint="'--n'")
    try:
        return resolve_pool(ops, k)
    except ValueError as error:
        hint = "'--k'" if str(error).startswith("K=") else "'--ops'"
        raise click.BadParameter(str(error), param_hint=hint) from None


def read_image(path: str):
    """uint8/uint16 RGB, RGBA or grey array from an image file; a click error names a bad file
    (a missing one is a usage error, exit 2; an unreadable or oversized one exit 1)."""
    import cv2
    import numpy as np

    from pipelines.sources import SourceError, check_image_size

    file = Path(path)
    if not file.is_file():
        raise click.BadParameter(f"{path}: no such file", param_hint="'IMAGE'")
    try:
        data = np.fromfile(file, dtype=np.uint8)
    except OSError as error:
        raise click.ClickException(f"{path}: cannot read ({error.strerror})") from None
    try:
        check_image_size(data.tobytes())  # before OpenCV allocates a bomb's pixels
    except SourceError as error:
        raise click.ClickException(f"{path}: {error}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise click.ClickException(f"{path}: not a readable image")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def check_output_path(path: str, option: str = "'--out'") -> Path:
    """An image path whose suffix OpenCV can write and whose folder exists."""
    out = Path(path)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise click.BadParameter(f"{path}: use one of {', '.join(IMAGE_SUFFIXES)}",
                                 param_hint=option)
    if not out.parent.resolve().is_dir():
        raise click.BadParameter(f"{path}: folder {out.parent} does not exist", param_hint=option)
    return out


def encode_image(image, suffix: str) -> bytes:
    """The file bytes of an RGB/RGBA/grey uint8 or uint16 image, in the format of `suffix`.
    16-bit images go to 8 bits (rint(x / 257)) for formats that cannot hold them, rather than
    OpenCV's fallback, which saturates instead of scaling."""
    import cv2
    import numpy as np

    if image.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
        image = np.rint(image / 257.0).astype(np.uint8)

    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise click.ClickException(f"OpenCV cannot write a {image.dtype} image as {suffix}")
    return encoded.tobytes()

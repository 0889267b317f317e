"""Finding source images and loading any of them as uint8 HxWx3 RGB, or saying why not.

Policy for problem files (each skip carries a one-line reason that the build counts):
- zero-byte, non-image, unreadable, truncated or corrupt files: skipped;
- larger than `max_pixels` (decompression-bomb guard, read from the header before decoding): skipped;
- smaller than `min_side` on either side (tiny, or smaller than the training patch): skipped;
- grey -> replicated to RGB; palette -> expanded; 16-bit -> rint(x / 257) to 8-bit;
  RGBA / LA / transparent palette -> composited over white; CMYK / YCbCr -> RGB;
  EXIF orientation -> applied, so the image is stored upright; multi-frame files -> first frame.
"""
from __future__ import annotations

import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np

from degrade.errors import ConfigError, KitError
from pipelines.files import sha256_bytes

SOURCE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# Pillow's own decompression-bomb threshold (about 89.5 megapixels, a 9459 x 9459 image).
DEFAULT_MAX_PIXELS = 89_478_485

# scikit-image's bundled colour photographs (no download needed; they ship in the wheel).
EMBEDDED_DEFAULT_NAMES = (
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
    "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg",
)
EMBEDDED_PREFIX = "skimage-data"


class SourceError(KitError):
    """A source image that cannot be used; str(error) is the one-line reason."""


def embedded_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("scikit-image is not installed, so there are no embedded default images")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def embedded_default_sources() -> list[Path]:
    """The bundled colour photographs that exist in this scikit-image install, in a fixed order."""
    data_dir = embedded_data_dir()
    return [data_dir / name for name in EMBEDDED_DEFAULT_NAMES if (data_dir / name).is_file()]


def is_source_name(path: Path) -> bool:
    return path.suffix.lower() in SOURCE_SUFFIXES and not path.name.startswith(".")


def find_sources(src_dir: str | Path | None = None, src_list: str | Path | None = None) -> list[Path]:
    """Source image paths: recursively under `src_dir` (sorted), from `src_list`, or the defaults.

    `src_list` is a text file with one path per line (relative paths are relative to the list's
    folder; blank lines and lines starting with '#' are ignored); its order is kept and listed
    files are not filtered by suffix, so a missing or bad one is reported by the load step.
    """
    if src_dir is not None and src_list is not None:
        raise ConfigError(("src_dir", "src_list"), "give one source, not both")
    if src_list is not None:
        return read_source_list(Path(src_list))
    if src_dir is None:
        return embedded_default_sources()
    root = Path(src_dir)
    if not root.is_dir():
        raise ConfigError("src_dir", f"{root}: not a directory")
    found = [p for p in root.rglob("*") if is_source_name(p) and p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_source_list(list_path: Path) -> list[Path]:
    if not list_path.is_file():
        raise ConfigError("src_list", f"{list_path}: no such file")
    paths = []
    for line in list_path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(line)
            paths.append(path if path.is_absolute() else list_path.parent / path)
    return paths


def source_label(path: Path, src_dir: str | Path | None) -> str:
    """A machine-independent name for a source: relative to --src, or 'skimage-data/NAME'."""
    path = Path(path)
    if src_dir is not None:
        try:
            return path.relative_to(Path(src_dir)).as_posix()
        except ValueError:
            pass
    try:
        path.relative_to(embedded_data_dir())
        return f"{EMBEDDED_PREFIX}/{path.name}"
    except (ValueError, SourceError):
        return path.as_posix()


def read_source_bytes(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceError("missing file") from None
    except IsADirectoryError:
        raise SourceError("is a directory") from None
    except OSError as error:
        raise SourceError(f"unreadable ({error.strerror or error})") from None
    if not data:
        raise SourceError("zero-byte file")
    return data


def load_image(path: str | Path, *, min_side: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode one source file into a C-contiguous uint8 HxWx3 RGB array (see module doc)."""
    return decode_image(read_source_bytes(Path(path)), min_side=min_side, max_pixels=max_pixels)


def decode_image(data: bytes, *, min_side: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes under the module's conversion policy; SourceError if unusable."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning: we apply our own limit below
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as error:
            raise SourceError(f"too large to decode safely ({error})") from None
        except UnidentifiedImageError:
            return _decode_with_cv2(data, min_side, max_pixels)
        except Exception as error:  # noqa: BLE001 - any parser failure means an unusable file
            raise SourceError(f"not a readable image ({type(error).__name__}: {error})") from None
        check_dimensions(image.width, image.height, min_side, max_pixels)
        if _is_16_bit_colour(image):  # Pillow would keep only the high byte; round instead
            return _decode_with_cv2(data, min_side, max_pixels)
        try:
            image.load()
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            return _pil_to_rgb8(image)
        except SourceError:
            raise
        except Exception as error:  # noqa: BLE001
            raise SourceError(f"corrupt or truncated ({type(error).__name__}: {error})") from None


def check_image_size(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """SourceError if the image's header declares more than `max_pixels` pixels: the one
    decompression-bomb guard for every path that decodes a user's file (build-shards, restore,
    degrade apply/preview), applied before a decoder allocates anything. Headers Pillow cannot
    parse are left to the decoder."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Image.DecompressionBombError as error:
            raise SourceError(f"too large to decode safely ({error})") from None
        except (UnidentifiedImageError, OSError, ValueError):
            return
    check_dimensions(width, height, 1, max_pixels)


def _is_16_bit_colour(image) -> bool:
    tiles = getattr(image, "tile", None) or []
    args = tiles[0][3] if tiles and len(tiles[0]) > 3 else None  # (codec, extents, offset, args)
    raw_mode = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else "")
    raw_mode = raw_mode if isinstance(raw_mode, str) else ""
    return image.mode in ("RGB", "RGBA") and ";16" in raw_mode


def check_dimensions(width: int, height: int, min_side: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise SourceError(f"too large: {width}x{height} = {width * height} pixels > {max_pixels} "
                          "(decompression-bomb guard)")
    if min(width, height) < min_side:
        raise SourceError(f"too small: {width}x{height}, needs at least {min_side} pixels on each side")


def _pil_to_rgb8(image) -> np.ndarray:
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return to_rgb8(np.asarray(image), bits=16 if mode.startswith("I;16") else _int_bits(image))
    if mode == "F":
        raise SourceError("unsupported pixel format: 32-bit float")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return to_rgb8(np.asarray(image.convert("RGBA")), bits=8)
    if mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _int_bits(image) -> int:
    """32-bit integer PIL images from 16-bit files keep values <= 65535; treat those as 16-bit."""
    high = int(np.asarray(image).max(initial=0))
    if high > 65535:
        raise SourceError("unsupported pixel format: 32-bit integer")
    return 16


def _decode_with_cv2(data: bytes, min_side: int, max_pixels: int) -> np.ndarray:
    """Formats Pillow cannot identify (some 16-bit colour TIFFs): OpenCV, after the same checks."""
    import cv2

    buffer = np.frombuffer(data, dtype=np.uint8)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise SourceError("not an image (unrecognised or corrupt format)")
    check_dimensions(decoded.shape[1], decoded.shape[0], min_side, max_pixels)
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    elif decoded.ndim == 3:
        decoded = cv2.cvtColor(decoded[..., :3], cv2.COLOR_BGR2RGB)
    if decoded.dtype == np.uint8:
        return to_rgb8(decoded, bits=8)
    if decoded.dtype == np.uint16:
        return to_rgb8(decoded, bits=16)
    raise SourceError(f"unsupported pixel format: {decoded.dtype}")


def to_rgb8(array: np.ndarray, bits: int) -> np.ndarray:
    """Grey, grey+alpha, RGB or RGBA integer array -> uint8 RGB (alpha composited over white)."""
    values = array.astype(np.float64) / (2**bits - 1) if bits != 8 else array.astype(np.float64) / 255.0
    if values.ndim == 2:
        values = values[..., None]
    channels = values.shape[2]
    if channels in (2, 4):
        alpha = values[..., -1:]
        values = values[..., :-1] * alpha + (1.0 - alpha)
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return np.ascontiguousarray(np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8))


def scan_source(path: str, label: str, min_side: int, max_pixels: int) -> dict:
    """Check one source completely (hash + full decode): its usable record, or why it is skipped."""
    entry = {"label": label, "path": str(path)}
    try:
        data = read_source_bytes(Path(path))
        image = decode_image(data, min_side=min_side, max_pixels=max_pixels)
    except SourceError as error:
        return dict(entry, skipped=str(error))
    return dict(entry, sha256=sha256_bytes(data), height=int(image.shape[0]), width=int(image.shape[1]))


def skip_category(reason: str) -> str:
    """The reason's leading words ('too small', 'corrupt or truncated', ...) for counting."""
    return reason.split(":")[0].split(" (")[0].strip()

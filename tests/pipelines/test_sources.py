import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pipelines.sources import (SourceError, embedded_default_sources, find_sources, load_image,
                               scan_source, skip_category)


def png_header_only(width, height):
    """A PNG whose header claims width x height: decompression-bomb sized without the bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def rgb(h=40, w=60, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path, image, **kwargs):
    image.save(path, **kwargs)
    return path


def test_embedded_defaults_are_colour_photographs():
    paths = embedded_default_sources()
    assert len(paths) >= 5
    for path in paths:
        image = load_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 256


def test_find_sources_recursive_sorted_and_filtered(tmp_path):
    for name in ("b/2.PNG", "a/1.jpg", "c.webp", "skip.txt", ".hidden.png", "d.tiff", "e.bmp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    names = [p.relative_to(tmp_path).as_posix() for p in find_sources(tmp_path)]
    assert names == ["a/1.jpg", "b/2.PNG", "c.webp", "d.tiff", "e.bmp"]
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\n\nc.webp\na/1.jpg\n")
    assert [p.name for p in find_sources(src_list=listing)] == ["c.webp", "1.jpg"]
    with pytest.raises(ValueError, match="not a directory"):
        find_sources(tmp_path / "nope")


def test_grey_is_replicated(tmp_path):
    grey = rgb()[..., 0]
    out = load_image(save(tmp_path / "g.png", Image.fromarray(grey, "L")))
    assert np.array_equal(out, np.repeat(grey[..., None], 3, axis=2))


def test_16_bit_is_rounded_to_8_bit(tmp_path):
    import cv2

    values = np.random.default_rng(1).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "d.png"), values[..., ::-1])
    out = load_image(tmp_path / "d.png")
    assert np.array_equal(out, np.rint(values / 257.0).astype(np.uint8))
    rgba = np.dstack([values, np.full((20, 30), 65535, np.uint16)])
    cv2.imwrite(str(tmp_path / "a16.png"), rgba[..., [2, 1, 0, 3]])
    assert np.array_equal(load_image(tmp_path / "a16.png"), out)
    grey16 = values[..., 0]
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    out = load_image(tmp_path / "g16.png")
    assert np.array_equal(out[..., 1], np.rint(grey16 / 257.0).astype(np.uint8))


def test_rgba_is_composited_over_white_and_palette_expanded(tmp_path):
    colour = rgb(10, 10)
    alpha = np.zeros((10, 10), np.uint8)
    alpha[:, 5:] = 255
    out = load_image(save(tmp_path / "a.png", Image.fromarray(np.dstack([colour, alpha]), "RGBA")))
    assert np.array_equal(out[:, 5:], colour[:, 5:]) and (out[:, :5] == 255).all()
    palette = Image.fromarray(colour).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = load_image(save(tmp_path / "p.png", palette))
    assert np.array_equal(out, np.asarray(palette.convert("RGB")))


def test_exif_rotation_is_applied(tmp_path):
    image = Image.fromarray(rgb(20, 50))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    out = load_image(save(tmp_path / "r.jpg", image, exif=exif, quality=95))
    assert out.shape == (50, 20, 3)


@pytest.mark.parametrize("name, content, reason", [
    ("zero.png", b"", "zero-byte"),
    ("text.jpg", b"hello, not an image" * 10, "not an image"),
    ("bomb.png", png_header_only(20000, 20000), "too large"),
    ("bomb2.png", png_header_only(10000, 9000), "too large"),
])
def test_unusable_files_say_why(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError, match=reason):
        load_image(tmp_path / name)


def test_truncated_and_tiny_and_missing(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(rgb(200, 200)).save(buffer, "JPEG", quality=90)
    (tmp_path / "t.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(SourceError, match="truncated"):
        load_image(tmp_path / "t.jpg")
    Image.fromarray(rgb(200, 200)).save(tmp_path / "p.png")
    (tmp_path / "tp.png").write_bytes((tmp_path / "p.png").read_bytes()[:3000])
    with pytest.raises(SourceError):
        load_image(tmp_path / "tp.png")
    Image.fromarray(rgb(10, 300)).save(tmp_path / "tiny.png")
    with pytest.raises(SourceError, match="too small"):
        load_image(tmp_path / "tiny.png", min_side=64)
    with pytest.raises(SourceError, match="missing"):
        load_image(tmp_path / "absent.png")


def test_scan_records_hash_and_shape_or_reason(tmp_path):
    Image.fromarray(rgb(30, 40)).save(tmp_path / "ok.png")
    good = scan_source(str(tmp_path / "ok.png"), "ok.png", 8, 10**8)
    assert (good["height"], good["width"]) == (30, 40) and len(good["sha256"]) == 64
    bad = scan_source(str(tmp_path / "ok.png"), "ok.png", 64, 10**8)
    assert skip_category(bad["skipped"]) == "too small"

"""Items 2 and 3: outputs that resolve to inputs (or exist) are refused before any work, unless
--overwrite; every command that decodes a user's image applies the one pixel limit first."""
from __future__ import annotations

import shutil
import struct
import zlib

from .conftest import assert_one_line_error, run_cli


def test_restore_into_its_input_folder_is_refused(model_file, photo, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo, folder / "a.png")
    before = (folder / "a.png").read_bytes()
    result = run_cli("trainer", "restore", model_file, folder, "--out", folder, "--device", "cpu")
    assert_one_line_error(result, 2, "'--out'", "is the input", "a.png")
    assert (folder / "a.png").read_bytes() == before
    # a differently named output beside the input is not an input: allowed
    jpeg = tmp_path / "j"
    jpeg.mkdir()
    (jpeg / "b.jpg").write_bytes(photo.read_bytes())
    ok = run_cli("trainer", "restore", model_file, jpeg / "b.jpg", "--out", jpeg, "--device", "cpu")
    assert ok.returncode == 0, ok.stderr
    again = run_cli("trainer", "restore", model_file, jpeg / "b.jpg", "--out", jpeg, "--device", "cpu")
    assert_one_line_error(again, 2, "b.png already exists", "--overwrite")


def test_apply_onto_its_input_is_refused_unless_overwrite(photo, tmp_path):
    image = tmp_path / "p.png"
    shutil.copy(photo, image)
    before = image.read_bytes()
    refused = run_cli("degrade", "apply", image, "--chain", "jpeg", "--out", tmp_path / "." / "p.png")
    assert_one_line_error(refused, 2, "is the input")
    assert image.read_bytes() == before and not (tmp_path / "p.json").exists()
    allowed = run_cli("degrade", "apply", image, "--chain", "jpeg", "--out", image, "--overwrite")
    assert allowed.returncode == 0 and image.read_bytes() != before


def test_merge_onto_its_base_is_refused(model_file, adapter_file, tmp_path):
    base = tmp_path / "base.safetensors"
    shutil.copy(model_file, base)
    before = base.read_bytes()
    result = run_cli("trainer", "merge", base, adapter_file, "--out", base)
    assert_one_line_error(result, 2, "is the input")
    assert base.read_bytes() == before
    linked = tmp_path / "link.safetensors"
    linked.symlink_to(base)
    via_link = run_cli("trainer", "merge", base, adapter_file, "--out", linked)
    assert_one_line_error(via_link, 2, "is the input")


def test_eval_keeps_an_existing_report(model_file, shards, tmp_path):
    (tmp_path / "eval.csv").write_text("mine\n")
    result = run_cli("trainer", "eval", model_file, "--data", shards, "--device", "cpu",
                     cwd=tmp_path)
    assert_one_line_error(result, 2, "eval.csv already exists")
    assert (tmp_path / "eval.csv").read_text() == "mine\n"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height (RGB, 8 bits) but holds one tiny IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_decompression_bombs_are_refused_before_decoding(tmp_path, model_file):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20000, 20000))
    for args in (("degrade", "apply", bomb, "--chain", "jpeg", "--out", tmp_path / "o.png"),
                 ("degrade", "preview", bomb, "--out", tmp_path / "p.png"),
                 ("trainer", "restore", model_file, bomb, "--out", tmp_path / "r", "--device",
                  "cpu")):
        result = run_cli(*args, timeout=60)
        assert_one_line_error(result, 1, "bomb.png", "too large")
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "p.png").exists()

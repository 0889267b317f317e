"""The bad-input suite of issue 17: every case a demanding user tried, run as a real command.

Builds a small workspace (shards, corrupt shards, a model, an adapter, a photo, a decompression
bomb, a read-only folder and a full disk where the machine allows), runs each case as
`python -m degrade|trainer ...` with a timeout, and prints one row per case: the exit status,
the seconds and the message (the last stderr line). A case fails when it hangs, prints a
traceback, exits with another status than expected, or (for a failure) ends on anything but one
`Error:` line; the script exits 1 if any case fails.

    .venv/bin/python bench/bad_inputs.py            # the table, markdown
    .venv/bin/python bench/bad_inputs.py -k restore # only cases whose name contains 'restore'
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = ("--model", "nafnet-tiny", "--steps", "2", "--batch", "2", "--patch", "16",
            "--workers", "0", "--val-every", "0")


@dataclass(frozen=True)
class Case:
    name: str
    item: str          # the item (17.N) or 16.9 for exit statuses
    args: tuple
    exit: int          # expected exit status
    timeout: float = 180
    report: bool = False  # a failure prints a report on stdout (verify), not one Error: line


def run(args, timeout: float, cwd: Path) -> tuple[int | None, str, str, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="100")
    began = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        return None, "", "", time.perf_counter() - began
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - began


def must(args, cwd: Path) -> None:
    code, out, err, _ = run(args, 600, cwd)
    if code != 0:
        raise SystemExit(f"workspace set-up failed: {' '.join(map(str, args))}\n{err[-2000:]}")


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def special_folder(folder: Path, options: str, full: bool = False) -> Path | None:
    """A tmpfs mounted at `folder` with `options` (filled up when `full`), or None where this
    machine lets no one mount."""
    folder.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        return None
    if full:
        stats = os.statvfs(folder)
        with open(folder / ".filler", "wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, stats.f_bavail * stats.f_frsize)
    return folder


def make_workspace(root: Path) -> dict:
    """Paths every case refers to; 'ro' and 'full' are None where they cannot be made."""
    import cv2

    from pipelines.codecs import encode_png
    from pipelines.tarindex import tar_members

    w = {"root": root}
    must(("degrade", "build-shards", "--count", "8", "--patch", "48", "--shard-size", "4",
          "--workers", "1", "--quiet", "--out", root / "shards"), root)
    w["shards"] = root / "shards"
    corrupt = root / "corrupt"
    shutil.copytree(w["shards"], corrupt)
    for tar in corrupt.glob("*.tar"):  # every image zeroed in place: tars intact, PNGs not
        data = bytearray(tar.read_bytes())
        for name, start, size in tar_members(memoryview(bytes(data))):
            if name.endswith(".png"):
                data[start:start + size] = bytes(size)
        tar.write_bytes(data)
    w["corrupt"] = corrupt
    escape = root / "escape"
    shutil.copytree(w["shards"], escape)
    manifest = (escape / "manifest.json").read_text().replace('"shard-000000.tar"',
                                                              '"../shards/shard-000000.tar"')
    (escape / "manifest.json").write_text(manifest)
    w["escape"] = escape
    bare = root / "bare"
    shutil.copytree(w["shards"], bare)
    (bare / "manifest.json").unlink()
    w["bare"] = bare
    unfinished = root / "unfinished"
    (unfinished / ".build").mkdir(parents=True)
    w["unfinished"], w["empty"] = unfinished, root / "empty"
    w["empty"].mkdir()
    must(("trainer", "pretrain", w["shards"], *TINY_RUN, "--out", root / "run"), root)
    w["model"] = root / "run" / "model.safetensors"
    must(("trainer", "colora", "--task", "blur", "--base", w["model"], "--method", "lora",
          "--rank", "2", "--steps", "1", "--batch", "1", "--patch", "16", "--test-count", "1",
          "--device", "cpu", "--out", root / "adapter"), root)
    w["adapter"] = root / "adapter" / "adapter.safetensors"
    rng = np.random.default_rng(0)
    photos = root / "photos"
    photos.mkdir()
    w["photo"] = photos / "photo.png"
    w["photo"].write_bytes(encode_png(rng.integers(0, 256, (64, 80, 3), np.uint8)))
    w["rgba"] = root / "rgba.png"
    cv2.imwrite(str(w["rgba"]), rng.integers(0, 256, (40, 40, 4), np.uint8))
    w["dot"] = root / "dot.png"
    w["dot"].write_bytes(encode_png(np.zeros((1, 1, 3), np.uint8)))
    w["junk"] = root / "junk.png"
    w["junk"].write_bytes(b"not an image")
    w["bomb"] = root / "bomb.png"
    w["bomb"].write_bytes(png_declaring(20000, 20000))
    w["ro"] = special_folder(root / "ro", "ro,size=64k")
    w["full"] = special_folder(root / "full", "size=256k", full=True)
    return w


def cases(w: dict) -> list[Case]:
    r, s, m, a, p = w["root"], w["shards"], w["model"], w["adapter"], w["photo"]
    dev = ("--device", "cpu")
    faig = ("trainer", "faig", "--base", m, "--task", "blur", "--steps", "1", "--tune-steps", "1",
            "--images", "1", "--patch", "16", "--batch", "1", *dev)
    out = [
        # 17.1 hangs
        Case("pretrain on all-corrupt shards", "17.1",
             ("trainer", "pretrain", w["corrupt"], *TINY_RUN, "--out", r / "o1"), 1),
        Case("pretrain --patch 200 on 48-pixel shards", "17.1",
             ("trainer", "pretrain", s, *TINY_RUN[:6], "--patch", "200", "--workers", "0",
              "--out", r / "o2"), 2),
        Case("pretrain --patch 200, shards without manifest", "17.1",
             ("trainer", "pretrain", w["bare"], *TINY_RUN[:6], "--patch", "200", "--workers",
              "0", "--out", r / "o3"), 1),
        # 17.2 overwrites
        Case("restore --out = the input folder", "17.2",
             ("trainer", "restore", m, p.parent, "--out", p.parent, *dev), 2),
        Case("apply --out = the input file", "17.2",
             ("degrade", "apply", p, "--chain", "jpeg", "--out", p), 2),
        Case("apply --record's file as OUT.json", "17.2",
             ("degrade", "apply", p, "--record", r / "x.json", "--out", r / "x.png"), 2),
        Case("merge --out = the base model", "17.2",
             ("trainer", "merge", m, a, "--out", m), 2),
        Case("merge --out = the base through a run folder", "17.2",
             ("trainer", "merge", r / "run", a, "--out", m), 2),
        Case("eval onto an existing CSV", "17.12",
             ("trainer", "eval", m, "--data", s, "--limit", "1", *dev, "--out", w["junk"]), 2),
        # 17.3 bombs
        Case("apply a 20000x20000 PNG header", "17.3",
             ("degrade", "apply", w["bomb"], "--chain", "jpeg", "--out", r / "b1.png"), 1, 60),
        Case("preview a 20000x20000 PNG header", "17.3",
             ("degrade", "preview", w["bomb"], "--out", r / "b2.png"), 1, 60),
        Case("restore a 20000x20000 PNG header", "17.3",
             ("trainer", "restore", m, w["bomb"], "--out", r / "b3", *dev), 1, 60),
        # 17.6 tracebacks
        Case("pretrain on an empty folder", "17.6",
             ("trainer", "pretrain", w["empty"], *TINY_RUN, "--out", r / "o4"), 1),
        Case("pretrain on an image", "17.6",
             ("trainer", "pretrain", p, *TINY_RUN, "--out", r / "o5"), 2),
        Case("pretrain on an unfinished build", "17.6",
             ("trainer", "pretrain", w["unfinished"], *TINY_RUN, "--out", r / "o6"), 1),
        Case("eval on corrupt shards", "17.6",
             ("trainer", "eval", m, "--data", w["corrupt"], *dev, "--out", r / "e1.csv"), 1),
        Case("colora --data corrupt shards", "17.6",
             ("trainer", "colora", "--task", "blur", "--base", m, "--method", "lora",
              "--data", w["corrupt"], "--steps", "1", *dev, "--out", r / "c1"), 1),
        Case("pretrain --device tpu", "17.6",
             ("trainer", "pretrain", s, *TINY_RUN, "--device", "tpu", "--out", r / "o7"), 2),
        Case("pretrain --device cuda:9", "17.6",
             ("trainer", "pretrain", s, *TINY_RUN, "--device", "cuda:9", "--out", r / "o8"), 2),
        Case("eval --device cuda:9", "17.6",
             ("trainer", "eval", m, "--data", s, "--device", "cuda:9", "--out", r / "e2.csv"), 2),
        Case("restore an unreadable image", "17.6",
             ("trainer", "restore", m, w["junk"], "--out", r / "r1", *dev), 1),
        Case("restore with a mismatched adapter", "17.6",
             ("trainer", "restore", w["adapter"], p, "--out", r / "r2", *dev), 1),
        # 17.7 validation before run.json
        Case("pretrain --model typo", "17.7",
             ("trainer", "pretrain", s, *TINY_RUN[2:], "--model", "nafnet-tinny",
              "--out", r / "o9"), 2),
        Case("pretrain --resume on a folder with no run", "17.7",
             ("trainer", "pretrain", s, *TINY_RUN, "--resume", "--out", r / "o10"), 1),
        Case("pretrain again into a finished run", "17.7",
             ("trainer", "pretrain", s, *TINY_RUN, "--out", r / "run"), 1),
        Case("pretrain --resume with another --lr", "17.7",
             ("trainer", "pretrain", s, *TINY_RUN, "--lr", "0.5", "--resume", "--out",
              r / "run"), 1),
        # 17.10 silent or misleading
        Case("preview --crop larger than the image", "17.10",
             ("degrade", "preview", p, "--crop", "100", "--out", r / "p1.png"), 2),
        Case("preview a 1x1 image", "17.10",
             ("degrade", "preview", w["dot"], "--out", r / "p2.png"), 2),
        Case("preview --ops ''", "17.10", ("degrade", "preview", "--ops", "", "--out",
                                            r / "p3.png"), 2),
        Case("build-shards --ops ''", "17.10",
             ("degrade", "build-shards", "--ops", "", "--out", r / "s1"), 2),
        # 17.11 manifests
        Case("pretrain on a manifest naming ../", "17.11",
             ("trainer", "pretrain", w["escape"], *TINY_RUN, "--out", r / "o11"), 1),
        Case("eval on a manifest naming ../", "17.11",
             ("trainer", "eval", m, "--data", w["escape"], *dev, "--out", r / "e3.csv"), 1),
        Case("verify a manifest naming ../", "17.11", ("degrade", "verify", w["escape"],
                                                        "--quiet"), 1, report=True),
        # 16.9 usage errors, both CLIs
        Case("degrade: unknown command", "16.9", ("degrade", "nope"), 2),
        Case("trainer: unknown command", "16.9", ("trainer", "nope"), 2),
        Case("build-shards --count 0", "16.9",
             ("degrade", "build-shards", "--count", "0", "--out", r / "s2"), 2),
        Case("build-shards --src missing", "16.9",
             ("degrade", "build-shards", "--src", r / "nope", "--out", r / "s3"), 2),
        Case("pretrain --steps 0", "16.9",
             ("trainer", "pretrain", s, *TINY_RUN[:2], "--steps", "0", "--out", r / "o12"), 2),
        Case("pretrain --resume --overwrite", "16.9",
             ("trainer", "pretrain", s, *TINY_RUN, "--resume", "--overwrite", "--out",
              r / "o13"), 2),
        Case("restore --overlap > tile/2", "16.9",
             ("trainer", "restore", m, p, "--tile", "64", "--overlap", "40", "--out", r / "r3"), 2),
        Case("eval --limit -1", "16.9",
             ("trainer", "eval", m, "--data", s, "--limit", "-1", *dev, "--out", r / "e4.csv"), 2),
        Case("colora --task fog", "16.9",
             ("trainer", "colora", "--task", "fog", "--base", m, "--method", "lora", *dev,
              "--out", r / "c2"), 2),
        Case("colora --rank with --method colora", "16.9",
             ("trainer", "colora", "--task", "blur", "--base", m, "--rank", "4", *dev), 2),
        Case("apply --chain and --record", "16.9",
             ("degrade", "apply", p, "--chain", "jpeg", "--record", r / "x.json",
              "--out", r / "x2.png"), 2),
        # handled right (exit 0)
        Case("pretrain on shards without a manifest", "17.12",
             ("trainer", "pretrain", w["bare"], *TINY_RUN, "--out", r / "o14"), 0),
        Case("colora --data with fewer pairs than --train-count", "17.10",
             ("trainer", "colora", "--task", "blur", "--base", m, "--method", "lora", "--data",
              s, "--train-count", "16", "--patch", "64", "--steps", "1", "--batch", "1",
              "--test-count", "1", *dev, "--out", r / "c3"), 0),
        Case("colora --dry-run without --faig", "17.12",
             ("trainer", "colora", "--task", "blur", "--base", m, "--dry-run"), 0),
        Case("faig names its top block", "17.12", (*faig, "--out", r / "f1"), 0),
        Case("merge says the base is unchanged", "17.12",
             ("trainer", "merge", m, a, "--out", r / "merged.safetensors"), 0),
        Case("apply keeps RGBA alpha", "17.12",
             ("degrade", "apply", w["rgba"], "--chain", "jpeg", "--out", r / "rgba-out.png"), 0),
        Case("restore drops RGBA alpha", "17.12",
             ("trainer", "restore", m, w["rgba"], "--out", r / "r4", *dev), 0),
        Case("python -m degrade --version", "16.9", ("degrade", "--version"), 0),
    ]
    for label, folder in (("read-only folder", w["ro"]), ("full disk", w["full"])):
        if folder is None:
            continue
        item = "17.4" if label == "read-only folder" else "17.5"
        out += [
            Case(f"apply into a {label}", item,
                 ("degrade", "apply", p, "--chain", "jpeg", "--out", folder / "a.png"), 1),
            Case(f"preview into a {label}", item,
                 ("degrade", "preview", p, "--crop", "32", "--out", folder / "p.png"), 1),
            Case(f"build-shards into a {label}", item,
                 ("degrade", "build-shards", "--count", "2", "--patch", "32", "--workers", "1",
                  "--quiet", "--out", folder / "s"), 1),
            Case(f"pretrain into a {label}", item,
                 ("trainer", "pretrain", s, *TINY_RUN, "--out", folder / "run"), 1),
            Case(f"eval into a {label}", item,
                 ("trainer", "eval", m, "--data", s, "--limit", "1", *dev, "--out",
                  folder / "e.csv"), 1),
            Case(f"restore into a {label}", item,
                 ("trainer", "restore", m, p, *dev, "--out", folder / "r"), 1),
            Case(f"faig into a {label}", item, (*faig, "--out", folder / "f"), 1),
            Case(f"merge into a {label}", item,
                 ("trainer", "merge", m, a, "--out", folder / "m.safetensors"), 1),
            Case(f"colora into a {label}", item,
                 ("trainer", "colora", "--task", "blur", "--base", m, "--method", "lora",
                  "--steps", "1", "--batch", "1", "--patch", "16", "--test-count", "1", *dev,
                  "--out", folder / "c"), 1),
        ]
    return out


def verdict(case: Case, code, out: str, err: str) -> str:
    if code is None:
        return "HANG"
    if "Traceback" in err:
        return "TRACEBACK"
    if code != case.exit:
        return f"EXIT {code} (want {case.exit})"
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    if code != 0 and case.report:
        return "ok" if out.strip() else "NO REPORT"
    if code != 0 and len(errors) != 1:
        return "NOT ONE LINE"
    return "ok"


def message(code, out: str, err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    if errors:
        return errors[-1].replace("|", "\\|")[:220]
    lines = (err or out if code else out + err).strip().splitlines()
    notes = [l for l in err.splitlines() if l.startswith("note:")]
    text = lines[-1] if lines else ""
    if code == 0 and notes:
        text = notes[0] + " / " + (out.strip().splitlines() or [""])[-1]
    return text.replace("|", "\\|")[:220]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="Only cases whose name contains this.")
    options = parser.parse_args()
    sys.path.insert(0, str(REPO))
    root = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    failures = 0
    try:
        workspace = make_workspace(root)
        if workspace["ro"] is None or workspace["full"] is None:
            print("note: no read-only folder or full disk (mounting tmpfs needs root); "
                  "those cases are left out\n")
        print("| case | item | exit | s | message | verdict |\n|---|---|---|---|---|---|")
        for case in cases(workspace):
            if options.k not in case.name:
                continue
            code, out, err, seconds = run(case.args, case.timeout, root)
            result = verdict(case, code, out, err)
            failures += result != "ok"
            print(f"| {case.name} | {case.item} | {code} | {seconds:.1f} | "
                  f"{message(code, out, err)} | {result} |", flush=True)
    finally:
        for name in ("ro", "full"):
            subprocess.run(["umount", "-l", str(root / name)], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{failures} case(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

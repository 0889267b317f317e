"""Fixtures for the reliability tests (issue 17): both command lines run in this process, or as
real subprocesses with a timeout (hangs, kills, locks: a hang fails instead of blocking), small
shard folders and model files, and folders
that refuse writes even to root (a read-only tmpfs, else an immutable folder) or are full (a
tiny tmpfs); a test skips, saying why, where the machine cannot make one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args, timeout: float = 120, cwd=None, real: bool = False):
    """`degrade|trainer ARGS` -> (returncode, stdout, stderr). In this process through click's
    runner (an escaping exception's traceback is appended to stderr, as Python would print it),
    or with real=True as `python -m degrade|trainer ARGS` with a timeout, so a hang fails the
    test instead of blocking it."""
    if real:
        return _run_process(args, timeout, cwd)
    import traceback
    from types import SimpleNamespace

    from click.testing import CliRunner

    from degrade.cli import main as degrade_main
    from trainer.cli import main as trainer_main

    group = {"degrade": degrade_main, "trainer": trainer_main}[args[0]]
    before = os.getcwd()
    os.chdir(cwd or before)
    try:
        result = CliRunner().invoke(group, [str(a) for a in args[1:]], prog_name=args[0])
    finally:
        os.chdir(before)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception))
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=stderr)


def _run_process(args, timeout: float, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="100")
    try:
        return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(map(str, args))} hung for more than {timeout} s "
                    f"(stderr tail: {(error.stderr or b'')[-500:]!r})")


def assert_one_line_error(result, exit_code: int, *fragments: str) -> str:
    """The run failed with `exit_code`, no traceback, and stderr has one `Error:` line holding
    every fragment; returns that line."""
    assert result.returncode == exit_code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr[-2000:]  # beside it: notes and warnings only
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@pytest.fixture(scope="session")
def shards(tmp_path_factory) -> Path:
    """A finished build-shards folder: 8 pairs of 48x48 in 2 shards."""
    from pipelines.build import BuildConfig, build_shards

    out = tmp_path_factory.mktemp("shards") / "shards"
    build_shards(BuildConfig(out=str(out), count=8, patch=48, shard_size=4, workers=1,
                             progress=False))
    return out


def copy_shards(shards: Path, to: Path, manifest=None) -> Path:
    """A copy of `shards`; manifest: None keeps it, False drops it, a function edits its dict."""
    shutil.copytree(shards, to)
    path = to / "manifest.json"
    if manifest is False:
        path.unlink()
    elif manifest is not None:
        path.write_text(json.dumps(manifest(json.loads(path.read_text()))))
    return to


@pytest.fixture(scope="session")
def corrupt_shards(tmp_path_factory, shards) -> Path:
    """Shards whose tars are intact but whose every image member is garbage."""
    from pipelines.shardwriter import write_tar_atomically
    from pipelines.tarindex import tar_members

    out = copy_shards(shards, tmp_path_factory.mktemp("corrupt") / "shards")
    for tar in out.glob("*.tar"):
        data = tar.read_bytes()
        members = [(name, b"garbage" if name.endswith(".png") else data[start:start + size])
                   for name, start, size in tar_members(memoryview(data))]
        tar.unlink()
        write_tar_atomically(tar, members)
    return out


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A nafnet-tiny model file (random weights)."""
    import torch

    from trainer.checkpoint import save_model
    from trainer.models import create_model

    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors",
                      create_model("nafnet-tiny"))


@pytest.fixture(scope="session")
def adapter_file(tmp_path_factory, model_file) -> Path:
    """A LoRA adapter (rank 2) for `model_file`."""
    from trainer.adapters import RankConfig, apply_plan, make_plan, save_adapter
    from trainer.checkpoint import load_model

    model, _ = load_model(model_file)
    plan = make_plan(model, "lora", RankConfig(rank=2))
    apply_plan(model, plan, RankConfig(rank=2))
    return save_adapter(tmp_path_factory.mktemp("adapter") / "a.safetensors", model)


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> Path:
    """A 64x80 RGB PNG."""
    import numpy as np

    from pipelines.codecs import encode_png

    path = tmp_path_factory.mktemp("photo") / "photo.png"
    path.write_bytes(encode_png(np.random.default_rng(0).integers(0, 256, (64, 80, 3), np.uint8)))
    return path


def _mount_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)
    return done.returncode == 0


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """An empty folder nobody (root included) can write to."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if _mount_tmpfs(folder, "ro,size=64k"):
        yield folder
        _unmount(folder)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        return
    pytest.skip("running as root without mount or chattr: cannot make a read-only folder")


@pytest.fixture
def full_dir(tmp_path) -> Path:
    """A folder on a tiny filesystem that is full (a 256 KiB tmpfs, filled up)."""
    folder = tmp_path / "full"
    if os.geteuid() != 0 or not _mount_tmpfs(folder, "size=256k"):
        pytest.skip("mounting a tiny tmpfs needs root with CAP_SYS_ADMIN; cannot fill a disk")
    fill(folder)
    yield folder
    _unmount(folder)


def fill(folder: Path) -> None:
    """Write a filler file until the filesystem under `folder` has no room left."""
    with open(folder / ".filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass

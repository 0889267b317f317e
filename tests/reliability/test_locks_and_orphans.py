"""Items 8 and 9: a killed build leaves no pool workers behind; two writers of one folder never
run at once, and the lock of a killed writer is taken over. Real processes, bounded waits."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.folderlock import LOCK_NAME, FolderLockedError, folder_lock

from .conftest import REPO, assert_one_line_error, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def start(*args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


BIG_BUILD = ("-m", "degrade", "build-shards", "--count", "4000", "--patch", "128",
             "--shard-size", "16", "--quiet")


def test_killed_build_leaves_no_workers(tmp_path):
    build = start(*BIG_BUILD, "--workers", "2", "--out", tmp_path / "out")
    try:
        workers = wait_for(lambda: len(children(build.pid)) >= 2 and children(build.pid), 120,
                           "the build's pool workers")
    finally:
        build.kill()
        build.wait(30)
    try:
        wait_for(lambda: not any(alive(p) for p in workers), 20, "orphaned workers to exit")
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_second_build_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "out"
    first = start(*BIG_BUILD, "--workers", "1", "--out", out)
    try:
        wait_for(lambda: (out / LOCK_NAME).exists(), 120, "the first build's lock")
        second = run_cli("degrade", "build-shards", "--count", "8", "--patch", "48", "--out", out,
                         "--quiet", "--workers", "1", real=True)
        assert_one_line_error(second, 1, "another build is writing here",
                              f"pid {first.pid}")
    finally:
        first.kill()
        first.wait(30)


def leave_a_stale_lock(out: Path, what: str) -> None:
    """Lock `out` from another process, check the lock holds, then kill that process."""
    holder = start("-c", "import sys, time\nfrom pipelines.folderlock import folder_lock\n"
                         f"with folder_lock({str(out)!r}, {what!r}):\n"
                         "    print('locked', flush=True)\n    time.sleep(600)\n")
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLockedError,
                           match=f"another {what} is writing here \\(pid {holder.pid}"):
            with folder_lock(out, what):
                pass
    finally:
        holder.kill()
        holder.wait(30)
    assert (out / LOCK_NAME).exists()  # left behind by the killed holder


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "out"
    leave_a_stale_lock(out, "build")
    result = run_cli("degrade", "build-shards", "--count", "4", "--patch", "48", "--out", out,
                     "--quiet", "--workers", "1", real=True)
    assert result.returncode == 0, result.stderr
    assert not (out / LOCK_NAME).exists() and (out / "manifest.json").is_file()


def test_a_training_run_folder_is_locked(shards, tmp_path):
    out = tmp_path / "run"
    with folder_lock(out, "training run"):
        result = run_cli("trainer", "pretrain", shards, "--model", "nafnet-tiny", "--steps", "1",
                         "--batch", "2", "--patch", "16", "--workers", "0", "--out", out, real=True)
    assert_one_line_error(result, 1, "another training run is writing here", f"pid {os.getpid()}")


def training_commands(shards: Path, model_file: Path, out: Path) -> dict[str, tuple]:
    """The commands that write a training run folder, each a one-step run into `out`."""
    return {
        "pretrain": ("trainer", "pretrain", shards, "--model", "nafnet-tiny", "--steps", "1",
                     "--batch", "2", "--patch", "16", "--workers", "0", "--out", out),
        "colora": ("trainer", "colora", "--task", "blur", "--base", model_file, "--method",
                   "lora", "--steps", "1", "--batch", "1", "--patch", "16",
                   "--test-count", "1", "--device", "cpu", "--out", out),
        "estimator train": ("trainer", "estimator", "train", shards, "--steps", "1", "--batch",
                            "2", "--patch", "16", "--head-crops", "8", "--device", "cpu",
                            "--out", out),
    }


@pytest.mark.parametrize("name", ["colora", "estimator train"])
def test_a_locked_run_folder_refuses_a_second_run(name, shards, model_file, tmp_path):
    out = tmp_path / "run"
    with folder_lock(out, "training run"):
        result = run_cli(*training_commands(shards, model_file, out)[name], real=True)
        assert_one_line_error(result, 1, "--out", "another training run is writing here",
                              f"pid {os.getpid()}")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written


@pytest.mark.parametrize("name, product", [("pretrain", "model.safetensors"),
                                           ("colora", "adapter.safetensors"),
                                           ("estimator train", "model.safetensors")])
def test_a_killed_runs_lock_is_taken_over(name, product, shards, model_file, tmp_path):
    out = tmp_path / "run"
    leave_a_stale_lock(out, "training run")
    result = run_cli(*training_commands(shards, model_file, out)[name], timeout=240, real=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / product).is_file() and not (out / LOCK_NAME).exists()

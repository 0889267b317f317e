"""One writer per output folder: `with folder_lock(out, "build"): ...`.

The lock is an advisory `flock` on OUT/.lock, which holds the owner's pid for the message the
second writer gets ("another build is writing here (pid N)"). The kernel drops the lock when
its process dies however it dies, so the lock of a killed run is stale by construction and the
next run takes it over without asking; the file itself is removed on a clean release. Forked
children (pool and loader workers) share the lock while they live.
"""
from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from degrade.errors import KitError

LOCK_NAME = ".lock"


class FolderLockedError(KitError):
    """Another live process writes into the folder."""


@contextmanager
def folder_lock(folder: str | Path, what: str = "run", field: str | None = "out") -> Iterator[Path]:
    """Hold the lock of `folder` (created if missing) for the block; FolderLockedError if another
    process holds it. `what` names the writer in the message; `field` the config field."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise KitError(f"{folder}: is a file, not a folder", field=field)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = _acquire(path, what, field)
    try:
        try:
            os.ftruncate(handle, 0)
            os.write(handle, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        except OSError as error:  # e.g. a full disk: name the file
            raise OSError(error.errno, error.strerror, str(path)) from None
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(handle)
        if created and not any(folder.iterdir()):
            folder.rmdir()  # nothing was written: leave no empty folder behind


def _acquire(path: Path, what: str, field: str | None) -> int:
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode(errors="replace").strip() or "unknown pid"
            os.close(handle)
            raise FolderLockedError(f"{path.parent}: another {what} is writing here ({holder}); "
                                    "wait for it or stop it", field=field) from None
        try:
            if os.fstat(handle).st_ino == os.stat(path).st_ino:
                return handle
        except FileNotFoundError:
            pass
        os.close(handle)  # the holder released and removed the file between open and flock


def is_lock_file(path: Path) -> bool:
    """True for the lock file itself (listings of a folder ignore it)."""
    return path.name == LOCK_NAME

"""Writing files whole and with the usual permissions, and hashing them: every file the project
writes goes through here.

A file is written under a hidden temporary name beside its final one (`.NAME.XXXXXXXX.partial`),
flushed to disk, and renamed into place in one step, so a reader sees the old file or the whole
new one, never a partial one under a final name. The temporary is created as open() would
create a new file, mode 0666 minus the umask (0644 under the usual umask 022); mkstemp and
safetensors' save_file give 0600, which other users and tools then cannot read.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

TEMPORARY_SUFFIX = ".partial"
TEMPORARY_GLOB = f".*{TEMPORARY_SUFFIX}"  # what a killed writer can leave in a folder
_HASH_CHUNK = 1 << 20


def _create_temporary(final: Path) -> Path:
    """A new empty file beside `final` that no other writer can be using (O_EXCL)."""
    while True:
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temporary
        except FileExistsError:  # pragma: no cover - a 1 in 2**32 collision
            continue


def _sync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextmanager
def naming(final: Path) -> Iterator[None]:
    """Re-raise an OSError (a full disk, a read-only folder) as naming `final`: the user asked
    for that file and has never heard of its temporary."""
    try:
        yield
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(final)) from None


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `final` for any writer that wants a path (torch.save,
    savefig, ...); when the block ends without an error it is synced and renamed to `final`,
    otherwise deleted. The parent folder is created when missing. OSErrors name `final`."""
    final = Path(final)
    with naming(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = _create_temporary(final)
        try:
            yield temporary
            _sync(temporary)
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)


def write_bytes_atomically(final: str | Path, data: bytes) -> Path:
    final = Path(final)
    with atomic_path(final) as temporary:
        temporary.write_bytes(data)
    return final


def write_text_atomically(final: str | Path, text: str) -> Path:
    """UTF-8 text, whole or not at all."""
    return write_bytes_atomically(final, text.encode("utf-8"))


def write_files_atomically(contents: Mapping[Path, bytes]) -> None:
    """Write every file under its temporary name first and rename them only when all are
    written, so an error (a full disk, say) leaves none of them half made."""
    temporaries: dict[Path, Path] = {}
    try:
        for final, data in contents.items():
            final = Path(final)
            with naming(final):
                final.parent.mkdir(parents=True, exist_ok=True)
                temporaries[final] = _create_temporary(final)
                temporaries[final].write_bytes(data)
                _sync(temporaries[final])
        for final, temporary in temporaries.items():
            with naming(final):
                os.replace(temporary, final)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete the temporaries a killed writer left in `folder`; returns how many. Only for a
    folder that nothing is writing to now."""
    folder = Path(folder)
    stale = [p for p in folder.glob(TEMPORARY_GLOB) if p.is_file()] if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = _HASH_CHUNK) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()

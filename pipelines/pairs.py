"""iter_pairs: (name, lq, gt) uint8 RGB pairs from a shard folder or from a paired image folder.

A paired folder has `lq/` + `gt/` (or `input/` + `target/`) subfolders whose images are matched
by file stem (`lq/0001.png` <-> `gt/0001.jpg`). Unmatched files, duplicate stems and pairs of
different sizes are errors (PairError) naming the files, raised before anything is yielded.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from degrade.errors import ConfigError, KitError
from pipelines.schema import MANIFEST_NAME
from pipelines.sources import SourceError, is_source_name, load_image

PAIR_FOLDERS = (("lq", "gt"), ("input", "target"))


class PairError(KitError, ValueError):
    """A folder that does not hold well-formed pairs; the message names the offending files."""


def iter_pairs(path: str | Path, limit: int | None = None, strict: bool = True) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yields (name, lq uint8 HxWx3 RGB, gt uint8 HxWx3 RGB), at most `limit` of them.

    `path`: a build-shards folder (names are sample keys; `strict` as in pipelines.stages), one
    .tar shard, or a paired folder (names are file stems, in sorted order).
    """
    path = Path(path)
    if limit is not None and limit < 0:
        raise ConfigError("limit", f"must be >= 0, got {limit}")
    if (path.is_file() and path.suffix == ".tar") or (path.is_dir() and _is_shard_folder(path)):
        return islice(_shard_pairs(path, strict), limit)
    if path.is_dir():
        return islice(_folder_pairs(match_pair_folder(path)), limit)
    raise PairError(f"{path}: not a shard folder, a .tar shard, or a folder with lq/+gt/ or input/+target/")


def _is_shard_folder(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file() or any(path.glob("*.tar"))


def _shard_pairs(path: Path, strict: bool) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    from pipelines.stages import Problems, ShardEntry, decode_samples, iter_dataset, read_tar_samples

    if path.is_file():
        problems = Problems(strict)
        samples = decode_samples(read_tar_samples([ShardEntry(str(path), None)], problems), problems)
    else:
        samples = iter_dataset(path, strict=strict)
    for sample in samples:
        # .npy members decode to read-only views of the mapped shard; callers get their own arrays.
        yield sample["key"], _writable(sample["lq"]), _writable(sample["gt"])


def _writable(image: np.ndarray) -> np.ndarray:
    return image if image.flags.writeable else image.copy()


def match_pair_folder(folder: Path) -> list[tuple[str, Path, Path]]:
    """[(stem, lq path, gt path)] sorted by stem; PairError for anything unmatched or mis-sized."""
    for lq_name, gt_name in PAIR_FOLDERS:
        if (folder / lq_name).is_dir() and (folder / gt_name).is_dir():
            lq, gt = _by_stem(folder / lq_name), _by_stem(folder / gt_name)
            break
    else:
        raise PairError(f"{folder}: expected subfolders lq/ and gt/ (or input/ and target/)")
    unmatched = sorted(str(p) for stem, p in list(lq.items()) + list(gt.items()) if stem not in lq or stem not in gt)
    if unmatched:
        raise PairError(f"{folder}: {len(unmatched)} image(s) without a partner of the same stem: "
                        + ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else ""))
    if not lq:
        raise PairError(f"{folder}: no images in {lq_name}/ and {gt_name}/")
    pairs = [(stem, lq[stem], gt[stem]) for stem in sorted(lq)]
    _check_sizes(pairs)
    return pairs


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_source_name(p)):
        if path.stem in found:
            raise PairError(f"{folder}: two images share the stem {path.stem!r}: {found[path.stem].name}, {path.name}")
        found[path.stem] = path
    return found


def _check_sizes(pairs: list[tuple[str, Path, Path]]) -> None:
    """Header-only size check (no decoding), so a mismatch fails before any work starts."""
    from PIL import Image

    def size(path: Path):
        try:
            with Image.open(path) as image:
                orientation = image.getexif().get(0x0112, 1)
                w, h = image.size
                return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported by name
            raise PairError(f"{path}: not a readable image ({error})") from None

    mismatched = []
    for _, lq, gt in pairs:
        lq_size, gt_size = size(lq), size(gt)
        if lq_size != gt_size:
            mismatched.append(f"{lq} {lq_size[0]}x{lq_size[1]} vs {gt} {gt_size[0]}x{gt_size[1]}")
    if mismatched:
        raise PairError(f"{len(mismatched)} pair(s) differ in size: " + "; ".join(mismatched[:5]))


def _folder_pairs(pairs: list[tuple[str, Path, Path]]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for stem, lq_path, gt_path in pairs:
        try:
            yield stem, load_image(lq_path), load_image(gt_path)
        except SourceError as error:
            raise PairError(f"{lq_path} / {gt_path}: {error}") from None

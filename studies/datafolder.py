"""Checks a data folder laid out like the shared benchmark folder and lists its images.

Expected layout (see the data folder's README):
    bsds500/train/*   clean pre-training and synthetic fine-tuning sources
    sun80/*           more clean sources
    cbsd68/*          clean evaluation images of the synthetic tasks (never used for training)
    polyu_real_noise/{lq,gt}/*   real camera-noise pairs matched by file stem
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studies.scales import POLYU_TEST_PAIRS, POLYU_TRAIN_PAIRS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class DataFolderError(ValueError):
    """The data folder is absent or incomplete; the message is one line naming what is missing."""


@dataclass(frozen=True)
class DataFolder:
    """The images of a checked data folder, each list sorted by file name."""

    root: Path
    clean_sources: tuple[Path, ...]  # bsds500/train then sun80
    cbsd68: tuple[Path, ...]
    polyu_train: tuple[tuple[Path, Path], ...]  # (lq, gt), first POLYU_TRAIN_PAIRS by name
    polyu_test: tuple[tuple[Path, Path], ...]  # (lq, gt), last POLYU_TEST_PAIRS by name


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name (hidden files skipped)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _require_images(root: Path, relative: str, minimum: int) -> list[Path]:
    folder = root / relative
    if not folder.is_dir():
        raise DataFolderError(f"data folder {root}: missing {relative}/")
    images = list_images(folder)
    if len(images) < minimum:
        raise DataFolderError(f"data folder {root}: {relative}/ has {len(images)} images, "
                              f"needs at least {minimum}")
    return images


def _polyu_pairs(root: Path) -> list[tuple[Path, Path]]:
    lq = {p.stem: p for p in _require_images(root, "polyu_real_noise/lq", 1)}
    gt = {p.stem: p for p in _require_images(root, "polyu_real_noise/gt", 1)}
    unmatched = sorted(set(lq) ^ set(gt))
    if unmatched:
        raise DataFolderError(f"data folder {root}: polyu_real_noise has {len(unmatched)} "
                              f"unmatched lq/gt stems, e.g. {unmatched[0]!r}")
    needed = POLYU_TRAIN_PAIRS + POLYU_TEST_PAIRS
    if len(lq) < needed:
        raise DataFolderError(f"data folder {root}: polyu_real_noise has {len(lq)} pairs, needs "
                              f"{needed} (first {POLYU_TRAIN_PAIRS} train, last {POLYU_TEST_PAIRS} test)")
    return [(lq[stem], gt[stem]) for stem in sorted(lq)]


def check_data_folder(root: Path | str, cbsd68_count: int = 1) -> DataFolder:
    """The folder's image lists, or DataFolderError naming the first missing piece."""
    root = Path(root)
    if not root.is_dir():
        raise DataFolderError(f"data folder {root} does not exist (expected bsds500/, sun80/, "
                              "cbsd68/ and polyu_real_noise/ inside)")
    sources = _require_images(root, "bsds500/train", 1) + _require_images(root, "sun80", 1)
    cbsd68 = _require_images(root, "cbsd68", cbsd68_count)
    pairs = _polyu_pairs(root)
    return DataFolder(root=root, clean_sources=tuple(sources), cbsd68=tuple(cbsd68),
                      polyu_train=tuple(pairs[:POLYU_TRAIN_PAIRS]),
                      polyu_test=tuple(pairs[-POLYU_TEST_PAIRS:]))

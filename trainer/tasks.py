"""Task data: a task name's single-degradation pairs synthesised by the engine, or real pairs.

A task is one kind of degradation: blur -> gaussian_blur or motion_blur, noise -> gaussian,
poisson or speckle noise, rain, jpeg, haze (the novel task: a registered op outside the
default PROD pool), or any registered op by its own name. Each synthetic pair is a clean crop of an embedded default image and
that crop degraded by one op drawn from the task's ops, all from (seed, index) alone; draws that
leave the crop unchanged are redrawn. Training and
test pairs come from disjoint source images (the last TEST_SOURCES embedded images are for tests).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from degrade.errors import ConfigError

TASKS: dict[str, tuple[str, ...]] = {
    "blur": ("gaussian_blur", "motion_blur"),
    "noise": ("gaussian_noise", "poisson_noise", "speckle_noise"),
    "rain": ("rain",),
    "jpeg": ("jpeg",),
}
TEST_SOURCES = 2
TEST_INDEX_OFFSET = 1_000_000

Pair = tuple[str, np.ndarray, np.ndarray]


def task_names() -> list[str]:
    from degrade.registry import OPS
    return sorted(set(TASKS) | set(OPS))


def task_ops(task: str) -> tuple[str, ...]:
    """The engine ops a task draws from; ValueError listing the known tasks."""
    from degrade.registry import OPS
    if task in TASKS:
        return TASKS[task]
    if task in OPS:
        return (task,)
    raise ConfigError("task", f"unknown task {task!r}; known: {', '.join(task_names())}")


def split_sources(sources: Sequence[Path], split: str) -> list[Path]:
    """The sources of a split: test uses the last TEST_SOURCES images, train the others."""
    if split not in ("train", "test"):
        raise ValueError(f"split: {split!r} must be train or test")
    if len(sources) <= TEST_SOURCES:
        return list(sources)  # too few images to hold any out; both splits share them
    return list(sources[-TEST_SOURCES:] if split == "test" else sources[:-TEST_SOURCES])


def synthesize_pairs(task: str, count: int, patch: int, seed: int = 0, split: str = "train",
                     sources: Sequence[Path] | None = None) -> list[Pair]:
    """`count` (name, lq, gt) uint8 pairs of patch x patch for `task`, the same for the same
    arguments. sources: clean images (default: the embedded default images)."""
    from pipelines.sources import embedded_default_sources, load_image

    if count < 1 or patch < 8:
        raise ValueError(f"count {count} must be >= 1 and patch {patch} >= 8")
    ops = task_ops(task)
    paths = split_sources(list(sources) if sources is not None else embedded_default_sources(),
                          split)
    if not paths:
        raise ValueError("sources: no clean images to synthesise task pairs from")
    images = [load_image(p) for p in paths]
    offset = TEST_INDEX_OFFSET if split == "test" else 0
    return [synthesize_pair(task, ops, images, index + offset, patch, seed)
            for index in range(count)]


def synthesize_pair(task: str, ops: Sequence[str], images: Sequence[np.ndarray], index: int,
                    patch: int, seed: int) -> Pair:
    from degrade.seeding import CHAIN, CROP, TASK_REDRAW, sample_seed

    image = images[index % len(images)]
    clean = random_crop(image, patch, np.random.default_rng(sample_seed(seed, index, CROP)))
    # A task pair must be degraded: a draw that rounds back to the clean crop (a near-delta
    # blur kernel, say) is redrawn from the redraw streams, still a function of (seed, index).
    seeds = [sample_seed(seed, index, CHAIN)]
    seeds += [sample_seed(seed, index, TASK_REDRAW, attempt) for attempt in range(TASK_REDRAW.width)]
    for attempt_seed in seeds:
        lq, op_name = degrade_once(clean, ops, attempt_seed)
        if not np.array_equal(lq, clean):
            break
    return f"{task}-{index:07d}-{op_name}", lq, clean


def random_crop(image: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """A patch x patch crop (the image is edge-padded first when smaller than the patch)."""
    from degrade.crops import random_window

    height, width = image.shape[:2]
    if height < patch or width < patch:
        image = np.pad(image, ((0, max(0, patch - height)), (0, max(0, patch - width)), (0, 0)),
                       mode="edge")
    y, x = random_window(rng, image.shape, patch)
    return np.ascontiguousarray(image[y:y + patch, x:x + patch])


def degrade_once(clean: np.ndarray, ops: Sequence[str], seed: int) -> tuple[np.ndarray, str]:
    """One op drawn from `ops` applied to `clean` through the chain engine (a replayable
    record), whether or not the op belongs to the default PROD pool."""
    from degrade.chain import degrade

    lq, record = degrade(clean, seed, pool=list(ops), max_length=1, mode="single")
    return lq, record["ops"][0]["name"]


def load_pairs(path, limit: int | None = None) -> list[Pair]:
    """Real pairs from a paired folder or shard folder (pipelines.pairs.iter_pairs)."""
    from pipelines.pairs import iter_pairs

    pairs = list(iter_pairs(path, limit=limit))
    if not pairs:
        raise ValueError(f"{path}: no image pairs found")
    return pairs

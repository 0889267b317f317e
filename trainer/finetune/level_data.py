"""Training and test data of level adapters: clean crops degraded on the fly at set levels of
one op, or real pairs with a level each (a labels file). Batches carry "level": c per image."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from degrade.errors import ConfigError
from degrade.imageconv import float_to_uint8, uint8_to_float
from degrade.seeding import FINETUNE_BATCH, LEVEL_DEGRADE, LEVEL_TEST, sample_seed
from pipelines.batching import image_to_tensor
from trainer.adapters.levels import LevelError, LevelScale, parse_value
from trainer.finetune.data import Pair, _random_crop


@dataclass(frozen=True)
class LevelSpec:
    """The levels a run trains on, in natural units of `op`: `values` (every image of a batch
    at each of them: the paper's recipe), or `low`..`high` sampled uniformly per image."""

    op: str
    values: tuple[float, ...] = ()
    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        if bool(self.values) == (self.low is not None):
            raise ValueError("levels: give either values or a range")

    @property
    def continuous(self) -> bool:
        return not self.values

    def scale(self) -> LevelScale:
        values = self.values or (self.low, self.high)
        return LevelScale.for_op(self.op, values, self.continuous)

    def test_values(self, count: int = 4) -> tuple[float, ...]:
        """Where a run is scored: the trained values, or `count` evenly over the range."""
        if self.values:
            return tuple(self.values)
        return snapped(self.op, np.linspace(self.low, self.high, count))


def snapped(op: str, values) -> tuple[float, ...]:
    """Values the op can take (JPEG quality: integers), in order, without repeats."""
    from trainer.adapters.levels import level_severity

    severity = level_severity(op)
    return tuple(sorted({severity.snap(v) for v in values}))


def degrade_at(clean: np.ndarray, op: str, natural: float, seed: int) -> np.ndarray:
    """uint8 `clean` degraded by `op` at exactly `natural` (its other params from `seed`),
    rounded to 8 bits like any saved image."""
    from degrade.registry import OPS

    operation = OPS[op]
    params = operation.severity.params_at(natural, np.random.default_rng(seed))
    return float_to_uint8(operation.apply(uint8_to_float(np.ascontiguousarray(clean)), params))


def level_batches(cleans: Sequence[np.ndarray], spec: LevelSpec, batch: int, patch: int,
                  seed: int) -> Callable:
    """A trainer.loop BatchSource of synthesised pairs: batch number b takes `batch` random
    clean crops (and flips) from (seed, b) and degrades each at every value of `spec` (batch x
    k images) or at one value drawn uniformly from its range; everything from (seed, b)."""
    if not cleans:
        raise ValueError("cleans: no clean images to degrade")
    scale = spec.scale()
    size = min(patch, *(min(c.shape[:2]) for c in cleans))
    tensors = [image_to_tensor(c) for c in cleans]

    def batches(start: int):
        number = start
        while True:
            crop_rng = np.random.default_rng(sample_seed(seed, number, FINETUNE_BATCH))
            level_rng = np.random.default_rng(sample_seed(seed, number, LEVEL_DEGRADE))
            crops = [_random_crop(t, t, size, crop_rng)[0]
                     for t in (tensors[int(crop_rng.integers(len(tensors)))] for _ in range(batch))]
            lq, gt, levels = [], [], []
            for crop in crops:
                clean = _to_uint8(crop)
                for value in _values_for(spec, level_rng):
                    degraded = degrade_at(clean, spec.op, value, int(level_rng.integers(2**62)))
                    lq.append(image_to_tensor(degraded))
                    gt.append(crop)
                    levels.append(scale.level(value))
            yield {"lq": torch.stack(lq), "gt": torch.stack(gt),
                   "level": torch.tensor(levels, dtype=torch.float32)}
            number += 1
    return batches


def _values_for(spec: LevelSpec, rng: np.random.Generator) -> Sequence[float]:
    if spec.values:
        return spec.values
    return snapped(spec.op, [rng.uniform(spec.low, spec.high)])


def _to_uint8(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray((tensor.numpy().transpose(1, 2, 0) * 255.0).round().astype(np.uint8))


def synthesise_level_pairs(cleans: Sequence[np.ndarray], op: str, natural: float,
                           seed: int) -> list[Pair]:
    """Every clean image degraded at `natural`: pair i's degradation from (seed, i) alone."""
    return [(f"{op}-{natural:g}-{i:05d}", degrade_at(c, op, natural,
                                                     sample_seed(seed, i, LEVEL_TEST)), c)
            for i, c in enumerate(cleans)]


def read_level_labels(path, op: str) -> dict[str, float]:
    """{pair name: natural value} from a CSV file of `name,level` rows (a header row `name,level`
    is allowed); LevelError naming the file and line for anything unusable."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise LevelError(f"{path}: cannot read the level labels ({error})",
                         field="level_labels") from None
    labels: dict[str, float] = {}
    for number, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip() or (number == 1 and row[:2] == ["name", "level"]):
            continue
        if len(row) != 2:
            raise LevelError(f"{path}, line {number}: expected `name,level`, got {len(row)} "
                             f"field(s)", field="level_labels")
        name, text = row[0].strip(), row[1].strip()
        try:
            value = parse_value(text, op, "level_labels")
        except ConfigError as error:
            raise LevelError(f"{path}, line {number}: {error.reason}",
                             field="level_labels") from None
        if name in labels:
            raise LevelError(f"{path}, line {number}: pair {name!r} is labelled twice",
                             field="level_labels")
        labels[name] = value
    if not labels:
        raise LevelError(f"{path}: no level labels", field="level_labels")
    return labels


def pair_levels(pairs: Sequence[Pair], labels: dict[str, float], source) -> list[float]:
    """The natural level of every pair, by name; LevelError naming the first unlabelled pair."""
    missing = [name for name, _, _ in pairs if name not in labels]
    if missing:
        raise LevelError(f"{source}: no level for pair {missing[0]!r} "
                         f"({len(missing)} of {len(pairs)} pairs unlabelled)",
                         field="level_labels")
    return [labels[name] for name, _, _ in pairs]

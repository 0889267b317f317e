"""Estimator labels from chain records: which ops a chain holds and the level of the strongest
occurrence of each, computed from the stored params (degrade's op severities)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from degrade.errors import KitError


class LabelError(KitError, ValueError):
    """Records that cannot label an estimator: missing, or naming ops outside its list."""


def op_levels(record: Mapping) -> list[tuple[str, float]]:
    """(op name, level in [0, 1]) for each step of the record's chain, in chain order."""
    from degrade.registry import OPS

    ops = record.get("ops") if isinstance(record, Mapping) else None
    if not isinstance(ops, list):
        raise LabelError("the sample has no chain record (its KEY.json lacks an 'ops' list)")
    levels = []
    for step in ops:
        name = step.get("name") if isinstance(step, Mapping) else None
        if name not in OPS:
            raise LabelError(f"the record names an unknown op {name!r}")
        op = OPS[name]
        try:
            params = op.decode(step.get("params"))  # any record version's form
            op.validate(params)
        except ValueError as error:
            raise LabelError(f"the record's {name} step has invalid params ({error})") from None
        levels.append((name, op.severity.level(params)))
    return levels


def labels_from_record(record: Mapping, ops: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(presence, level), float32 arrays over `ops`: 1 where the op occurs anywhere in the
    chain, and the level of its strongest occurrence (0 where absent, masked in the loss).
    LabelError names ops of the chain that `ops` does not cover."""
    index = {name: i for i, name in enumerate(ops)}
    presence = np.zeros(len(ops), np.float32)
    level = np.zeros(len(ops), np.float32)
    for name, value in op_levels(record):
        if name not in index:
            raise LabelError(f"the chain holds {name!r}, which the estimator does not cover "
                             f"(it knows {', '.join(ops)})")
        presence[index[name]] = 1.0
        level[index[name]] = max(level[index[name]], value)
    return presence, level


def batch_labels(records: Iterable[Mapping], ops: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Stacked labels_from_record over a batch: two float32 arrays B x len(ops)."""
    pairs = [labels_from_record(record, ops) for record in records]
    return np.stack([p for p, _ in pairs]), np.stack([lv for _, lv in pairs])


class BatchLabeller:
    """batch -> the batch with "presence" and "level" (batch_labels of its records) added: a
    picklable map for the shard loader, so the labels are derived in its worker processes.
    Records it cannot label give "label_error" (the LabelError's line) instead: raised in a
    worker, the error would reach the training process wrapped in the worker's traceback."""

    def __init__(self, ops: Sequence[str]):
        self.ops = list(ops)

    def __call__(self, batch: dict) -> dict:
        try:
            presence, level = batch_labels(batch["record"], self.ops)
        except LabelError as error:
            return dict(batch, label_error=str(error))
        return dict(batch, presence=presence, level=level)


def pool_of_shards(shard_dir) -> list[str]:
    """The op pool a shard folder was built from (its manifest), in pool order.

    LabelError when the folder has no manifest (an unfinished build or not a shard folder)."""
    import json
    from pathlib import Path

    from pipelines.schema import MANIFEST_NAME

    manifest = Path(shard_dir) / MANIFEST_NAME
    try:
        space = json.loads(manifest.read_text(encoding="utf-8"))["degradation_space"]
        return list(space["pool"])
    except FileNotFoundError:
        raise LabelError(f"{shard_dir}: no manifest.json (not a finished shard folder)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LabelError(f"{manifest}: unreadable manifest ({error})") from None


def check_pool_covered(shard_pool: Sequence[str], ops: Sequence[str], shard_dir) -> None:
    """LabelError naming the ops of the shards' pool that the estimator does not know."""
    missing = [name for name in shard_pool if name not in ops]
    if missing:
        raise LabelError(f"{shard_dir}: its pool has {', '.join(missing)}, which the estimator "
                         f"does not cover (it knows {', '.join(ops)})")

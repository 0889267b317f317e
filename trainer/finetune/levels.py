"""`trainer colora --levels/--level-range/--level-labels`: training on set levels of one op.

A level-conditioned method (levels, levels-full) learns c; any other method trained this way is
the *blind* adapter of the same data (one adapter for all levels, without c). Synthetic pairs
come from clean crops of the embedded images degraded on the fly (trainer.finetune.level_data);
real pairs take their levels from a labels file. Scores before and after are per level.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from trainer.adapters.levels import (INFO_KEY, LevelScale, level_severity, parse_range,
                                     parse_values)
from trainer.finetune.base import AdaptError
from trainer.finetune.level_data import (LevelSpec, level_batches, pair_levels,
                                         read_level_labels, snapped, synthesise_level_pairs)
from trainer.finetune.requests import (AdaptRequest, _adapter_info, _evaluate, _real_pairs,
                                       _write_outputs, request_scores, start_run)

SCORED_LEVELS = 4  # levels a continuous range is scored at


def wants_levels(request: AdaptRequest) -> bool:
    from trainer.adapters import get_method
    return bool(request.levels or request.level_range or request.level_labels
                or get_method(request.method).levels)


def level_op(task: str) -> str:
    """The op a task's levels are of: its first op whose strength can be set (noise ->
    gaussian_noise, jpeg -> jpeg)."""
    from trainer.tasks import task_ops

    errors = []
    for op in task_ops(task):
        try:
            level_severity(op)
            return op
        except ValueError as error:
            errors.append(str(error))
    raise AdaptError("task", f"{task}: no op of this task has a settable strength ({errors[0]})")


@dataclasses.dataclass(frozen=True)
class LevelData:
    """What a level run trains and scores on: the op, the scale, training batches and test
    pairs per natural level (None for real test pairs: one set, levels from the labels)."""

    op: str
    scale: LevelScale
    batches: object
    faig_pairs: list
    tests: dict


def level_data(request: AdaptRequest) -> LevelData:
    """The run's data from the request's level options; AdaptError naming the option."""
    op = level_op(request.task)
    given = [name for name in ("levels", "level_range", "level_labels") if getattr(request, name)]
    if len(given) != 1:
        raise AdaptError(None, f"{request.method} on levels needs exactly one of `levels`, "
                               f"`level_range` or `level_labels`, got "
                               f"{', '.join('`' + g + '`' for g in given) or 'none'}")
    if given[0] == "level_labels":
        return _labelled_data(request, op)
    if request.data:
        raise AdaptError("data", "real pairs carry their own levels: give `level_labels` "
                                 "instead of synthesised `levels`/`level_range`")
    if request.levels:
        spec = LevelSpec(op, tuple(parse_values(request.levels, op)))
    else:
        low, high, _ = parse_range(request.level_range, op)
        spec = LevelSpec(op, low=low, high=high)
    return _synthetic_data(request, spec)


def _synthetic_data(request: AdaptRequest, spec: LevelSpec) -> LevelData:
    train = request.train
    cleans = clean_crops(request.train_count, 2 * train.patch, train.seed, "train")
    tests_clean = clean_crops(request.test_count, 2 * train.patch, train.seed, "test")
    batches = level_batches(cleans, spec, train.batch, train.patch, train.seed)
    values = spec.test_values(SCORED_LEVELS)
    faig = [pair for value in values
            for pair in synthesise_level_pairs(cleans, spec.op, value, train.seed)]
    tests = {value: synthesise_level_pairs(tests_clean, spec.op, value, train.seed + 1)
             for value in values}
    return LevelData(spec.op, spec.scale(), batches, _interleave(faig, len(values)), tests)


def _interleave(pairs: list, groups: int) -> list:
    """Pairs of `groups` equal runs reordered so any prefix mixes the levels (FAIG takes the
    first few)."""
    size = len(pairs) // groups
    return [pairs[g * size + i] for i in range(size) for g in range(groups)]


def _labelled_data(request: AdaptRequest, op: str) -> LevelData:
    from trainer.finetune.data import pair_batches

    if not request.data:
        raise AdaptError("level_labels", "labels name real pairs: give `data` as well")
    labels = read_level_labels(request.level_labels, op)
    train = _real_pairs("data", request.data, request.train_count)
    values = pair_levels(train, labels, request.data)
    scale = LevelScale.for_op(op, values)
    batches = pair_batches(train, request.train.batch, request.train.patch, request.train.seed,
                           [scale.level(v) for v in values])
    if request.test:
        test = _real_pairs("test", request.test, request.test_count)
        tests = {None: (test, pair_levels(test, labels, request.test))}
    else:
        cleans = clean_crops(request.test_count, 2 * request.train.patch, request.train.seed,
                             "test")
        tests = {v: synthesise_level_pairs(cleans, op, v, request.train.seed + 1)
                 for v in snapped(op, np.linspace(scale.low, scale.high, SCORED_LEVELS))}
    return LevelData(op, scale, batches, train, tests)


def clean_crops(count: int, size: int, seed: int, split: str) -> list[np.ndarray]:
    """`count` clean size x size crops of the embedded images' `split` (tasks' sources)."""
    from degrade.seeding import CROP, sample_seed
    from pipelines.sources import embedded_default_sources, load_image
    from trainer.tasks import TEST_INDEX_OFFSET, random_crop, split_sources

    images = [load_image(p) for p in split_sources(embedded_default_sources(), split)]
    offset = TEST_INDEX_OFFSET if split == "test" else 0
    return [random_crop(images[i % len(images)], size,
                        np.random.default_rng(sample_seed(seed, i + offset, CROP)))
            for i in range(count)]


def adapt_with_levels(request: AdaptRequest) -> dict:
    """adapt_to_task for a run on levels (see the module docstring)."""
    from pipelines.folderlock import folder_lock

    config = request.method_config()
    data = level_data(request)
    with folder_lock(request.out, "training run"):
        return _train_in_locked_folder(request, Path(request.out), config, data)


def _train_in_locked_folder(request: AdaptRequest, out: Path, config, data: LevelData) -> dict:
    from pipelines.files import sha256_file
    from trainer.adapters import get_method
    from trainer.finetune.tuning import finetune

    base, metadata, base_path = start_run(request, out)
    scores, report = request_scores(request, base, data.faig_pairs)
    before = scores_per_level(base, data, request.train.device, False)
    result = finetune(base, [], request.method, request.train, config, scores, out_dir=out,
                      batches=data.batches)
    levelled = get_method(request.method).levels
    after = scores_per_level(result.model, data, request.train.device, levelled)
    info = _adapter_info(request, base_path, metadata, sha256_file(base_path),
                         request.train_count)
    info[INFO_KEY if levelled else "trained_levels"] = data.scale.to_dict()
    return _write(out, result, request, data, info, report, before, after, base_path)


def scores_per_level(model, data: LevelData, device: str, levelled: bool) -> dict:
    """{natural level (text): mean PSNR/SSIM} over the test pairs of each level."""
    from trainer.adapters import set_level

    results = {}
    for value, pairs in data.tests.items():
        if value is None:  # real test pairs, one level each: scored one pair at a time
            pairs, values = pairs
            groups = {v: [p for p, pv in zip(pairs, values) if pv == v] for v in sorted(set(values))}
        else:
            groups = {value: pairs}
        for level, group in groups.items():
            if levelled:
                set_level(model, data.scale.level(level))
            results[f"{level:g}"] = _evaluate(model, group, device)
    return results


def _mean(per_level: dict) -> dict:
    keys = next(iter(per_level.values())).keys()
    return {k: float(np.mean([scores[k] for scores in per_level.values()])) for k in keys}


def _write(out: Path, result, request: AdaptRequest, data: LevelData, info: dict, report,
           before: dict, after: dict, base_path) -> dict:
    from trainer.adapters import task_description

    severity = level_severity(data.op)
    span = sorted((severity.level_of(data.scale.low), severity.level_of(data.scale.high)))
    task = task_description(request.task, (data.op,), span)
    return _write_outputs(out, result, request, task, info, report, _mean(before), _mean(after),
                          base_path, {"per_level": {"before": before, "after": after}})


def per_level_lines(summary: dict) -> list[str]:
    """One line per scored level: PSNR before -> after."""
    per_level = summary.get("per_level")
    if not per_level:
        return []
    unit = (summary.get(INFO_KEY) or summary.get("trained_levels") or {}).get("symbol", "level")
    return [f"  {unit} {level}: PSNR {per_level['before'][level]['psnr']:.2f} -> "
            f"{per_level['after'][level]['psnr']:.2f} dB" for level in per_level["after"]]



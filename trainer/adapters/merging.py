"""Weighted adapters of one base model merged: into a plain model, or into one adapter.

The composed adapter is exact: where every contribution to a weight is LoRA factors, their
ranks are concatenated, `sum_i w_i s_i B_i A_i = [w_1 s_1 B_1 ... w_n s_n B_n] [A_1; ...; A_n]`
(PEFT's combination "cat"); where one is not low-rank (DoRA's rescaling, a weight tuned in
full) or the concatenated rank would cost more than the weight itself, the composed weight is
stored in full. With `rank`, every weight change is instead truncated by SVD to that rank, an
approximation whose relative error (Frobenius, over all of them) is reported. Tuned vectors
compose as v0 + sum_i w_i (v_i - v0), exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from trainer.adapters.allocation import rank_cap
from trainer.adapters.configs import ComposedConfig
from trainer.adapters.files import AdapterFile, load_adapter, read_adapter, task_description
from trainer.adapters.layer import SUPPORTED, AdaptedLayer, LowRank, weight_matrix_shape
from trainer.adapters.levels import refuse_levelled
from trainer.adapters.model import (AdapterError, adapted_layers, merge_and_unload,
                                    model_fingerprint, set_adapters)
from trainer.adapters.plan import LOW_RANK, TUNED, AdapterPlan, LayerPlan
from trainer.adapters.registry import TUNED_PREFIX


@dataclass(frozen=True)
class Composition:
    """One adapter equivalent to weighted sources: what write_adapter needs, and the relative
    error of the SVD approximation (0.0 when exact)."""

    tensors: dict
    plan: AdapterPlan
    config: ComposedConfig
    task: dict
    info: dict
    base_fingerprint: str
    relative_error: float


def read_sources(paths: Sequence, weights: Sequence[float]) -> list[AdapterFile]:
    """The adapter files, checked to share one base model and to have one finite weight each."""
    if len(weights) != len(paths):
        raise AdapterError(f"weights: {len(weights)} given for {len(paths)} adapters")
    bad = [w for w in weights if not math.isfinite(w)]
    if bad:
        raise AdapterError(f"weights: {bad[0]} is not a finite number")
    return read_same_base(paths)


def read_same_base(paths: Sequence) -> list[AdapterFile]:
    """The adapter files, AdapterError naming two of them trained on different base models."""
    files = [read_adapter(path) for path in paths]
    for adapter in files:
        refuse_levelled(adapter.record, adapter.path, "merging or composing")
    for other in files[1:]:
        if other.base_fingerprint != files[0].base_fingerprint:
            raise AdapterError(f"{other.path}: trained on a different base model than "
                               f"{files[0].path} (weights {other.base_fingerprint[:12]} vs "
                               f"{files[0].base_fingerprint[:12]})")
    return files


def load_weighted(model: nn.Module, files: Sequence[AdapterFile],
                  weights: Sequence[float]) -> list[str]:
    """Load every file (as source0, source1, ...) and activate them with their weights."""
    names = [f"source{i}" for i in range(len(files))]
    for name, adapter in zip(names, files):
        load_adapter(model, adapter, name)
    set_adapters(model, names, list(weights))
    return names


def merge_into_model(model: nn.Module, files: Sequence[AdapterFile],
                     weights: Sequence[float]) -> nn.Module:
    """`model` with W0 + sum_i w_i dW_i folded in: a plain model."""
    load_weighted(model, files, weights)
    return merge_and_unload(model)


def compose(model: nn.Module, files: Sequence[AdapterFile], weights: Sequence[float],
            rank: int | None = None) -> Composition:
    """One adapter for `model` equal to the weighted sources (exact unless `rank`)."""
    if rank is not None and rank < 1:
        raise AdapterError(f"rank: {rank} must be >= 1")
    names = load_weighted(model, files, weights)
    pairs = list(zip(names, [float(w) for w in weights]))
    tensors, items, errors = {}, [], [0.0, 0.0]
    with torch.no_grad():
        for layer_name, layer in adapted_layers(model).items():
            active = [(n, w) for n, w in pairs if n in layer.adapter_names()]
            items += _compose_layer(layer_name, layer, active, rank, tensors, errors)
    total = files[0].record.plan.model_params
    config = ComposedConfig(sources=tuple(str(f.path) for f in files),
                            weights=tuple(w for _, w in pairs), rank=rank)
    error = math.sqrt(errors[0] / errors[1]) if errors[1] > 0 else 0.0
    return Composition(tensors, AdapterPlan("composed", tuple(items), total, None), config,
                       _combined_task(files), _base_info(files), model_fingerprint(model), error)


def _compose_layer(name: str, layer: AdaptedLayer, active, rank, tensors: dict,
                   errors: list) -> list[LayerPlan]:
    changes = {n: layer.delta(n) for n, _ in active}
    items = []
    weight_changes = [(n, w) for n, w in active if "weight" in changes[n]]
    matrix = isinstance(layer.base_layer, SUPPORTED) and bool(weight_changes)
    if matrix:
        items.append(_compose_weight(name, layer, weight_changes, changes, rank, tensors, errors))
    for param in sorted({p for n, _ in active for p in changes[n]}):
        if param == "weight" and matrix:
            continue
        base = layer.base_parameter(param)
        value = base + sum(w * changes[n][param] for n, w in active if param in changes[n])
        key = f"{name}.{param}"
        tensors[f"{TUNED_PREFIX}/{key}"] = value.detach().cpu().contiguous()
        items.append(_tuned_item(key, value))
    return items


def _compose_weight(name, layer, active, changes, rank, tensors, errors) -> LayerPlan:
    base = layer.base_layer.weight
    d, k = weight_matrix_shape(base)
    factors = [layer.factors[n] if n in layer.factors else None for n, _ in active]
    concat_rank = sum(f.rank for f in factors if f is not None)
    exact_low_rank = all(type(f) is LowRank for f in factors) and concat_rank <= rank_cap(d, k)
    if rank is None and exact_low_rank:
        b = torch.cat([w * f.scaling * f.lora_B for (_, w), f in zip(active, factors)], dim=1)
        a = torch.cat([f.lora_A for f in factors], dim=0)
        return _store_factors(name, a, b, tensors)
    dense = sum(w * changes[n]["weight"] for n, w in active).reshape(d, k)
    if rank is None:
        key = f"{name}.weight"
        tensors[f"{TUNED_PREFIX}/{key}"] = (base + dense.reshape(base.shape)).cpu().contiguous()
        return _tuned_item(key, base)
    a, b = _truncated(dense, min(rank, d, k), errors)
    return _store_factors(name, a.to(base.dtype), b.to(base.dtype), tensors)


def _truncated(dense: torch.Tensor, rank: int, errors: list):
    """(A, B) with B A the best rank-`rank` approximation of `dense`; adds the squared error and
    the squared norm to `errors`."""
    u, s, vh = torch.linalg.svd(dense.double(), full_matrices=False)
    b, a = u[:, :rank] * s[:rank], vh[:rank]
    errors[0] += float(s[rank:].square().sum())
    errors[1] += float(s.square().sum())
    return a, b


def _store_factors(name: str, a: torch.Tensor, b: torch.Tensor, tensors: dict) -> LayerPlan:
    tensors[f"lora_A/{name}"] = a.detach().cpu().contiguous()
    tensors[f"lora_B/{name}"] = b.detach().cpu().contiguous()
    r, k = a.shape
    d = b.shape[0]
    params = r * (d + k)
    return LayerPlan(name, LOW_RANK, r, params, params / (d * k), 0.0, d, k)


def _tuned_item(key: str, value: torch.Tensor) -> LayerPlan:
    n = value.numel()
    d = int(value.shape[0]) if value.dim() else 1
    return LayerPlan(key, TUNED, 0, n, 1.0, 0.0, d, n // d)


def _combined_task(files: Sequence[AdapterFile]) -> dict:
    tasks = [f.record.task for f in files]
    ops = list(dict.fromkeys(op for t in tasks for op in t.get("ops", [])))
    ranges = [t.get("level_range") for t in tasks]
    level_range = None
    if ranges and all(r is not None for r in ranges):
        level_range = [min(r[0] for r in ranges), max(r[1] for r in ranges)]
    names = [t.get("name") or Path(f.path).stem for t, f in zip(tasks, files)]
    return task_description("+".join(names), ops, level_range)


def _base_info(files: Sequence[AdapterFile]) -> dict:
    info = files[0].record.info
    return {key: info[key] for key in ("base_path", "base_sha256", "preset", "config")
            if key in info}

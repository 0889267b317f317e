"""Adapter files: safetensors with the factors and tuned tensors of one adapter, and metadata
that ties it to its base model.

Format 2 (written): tensors `<prefix>/<module or parameter name>`, the prefixes being the
method's (its variant's factor names, and `tuned`); metadata strings `format`, `version` ("2"),
`method`, `config` (the method's config as JSON), `plan`, `base_fingerprint` (sha256 of the
base weights), `task` ({"name", "ops", "level_range"}: what the adapter restores, which the
router of composed adapters reads) and `info` (anything else: base path, preset, steps...).
Bytes are canonical (sorted header, compact sorted JSON), so identical adapters give
identical files. Format 1 (trainer.colora before it became trainer.adapters: `alpha` and the
plan's method, no config or task ops) is read as well.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from trainer.adapters.model import (DEFAULT_NAME, AdapterError, AdapterRecord, adapted_layers,
                                    adapter_records, add_adapter, model_fingerprint,
                                    set_adapters)
from trainer.adapters.levels import LEVEL_PREFIX, is_levelled, level_slot
from trainer.adapters.plan import AdapterPlan

FORMAT = "colora-adapter"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class AdapterFile:
    """A decoded adapter file: its record (method, config, plan, task, info), the base model's
    fingerprint, the format version and the tensors by file key."""

    path: Path
    version: int
    record: AdapterRecord
    base_fingerprint: str
    tensors: dict

    @property
    def method(self) -> str:
        return self.record.method


def task_description(name: str = "", ops=(), level_range=None) -> dict:
    """The `task` entry of an adapter: its name, the engine ops it restores and the range of
    their levels in [0, 1] it was trained on (None: unknown, e.g. real pairs)."""
    if level_range is not None:
        low, high = (float(v) for v in level_range)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"level_range: {level_range} must satisfy 0 <= low <= high <= 1")
        level_range = [low, high]
    return {"name": str(name), "ops": [str(op) for op in ops], "level_range": level_range}


# ---------------------------------------------------------------- writing

def adapter_tensors(model: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """What a file stores of adapter `name`: each layer's factors and each tuned tensor."""
    from trainer.adapters.registry import TUNED_PREFIX

    tensors = {}
    for layer_name, layer in adapted_layers(model).items():
        if name in layer.factors:
            factors = layer.factors[name]
            for factor in factors.factor_names:
                tensors[f"{factor}/{layer_name}"] = getattr(factors, factor)
        if name in layer.tuned:
            for leaf, value in layer.tuned[name].items():
                tensors[f"{TUNED_PREFIX}/{layer_name}.{leaf}"] = value
    if name in adapter_records(model) and is_levelled(adapter_records(model)[name]):
        level_term = adapter_tensors(model, level_slot(name))
        tensors.update({f"{LEVEL_PREFIX}/{key}": value for key, value in level_term.items()})
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def save_adapter(path, model: nn.Module, name: str | None = None, task: dict | None = None,
                 info: dict | None = None) -> Path:
    """Write adapter `name` of `model` (the only one when None) atomically, format 2.
    task: task_description(...) (default: the record's); info: extra JSON metadata."""
    records = adapter_records(model)
    if name is None and len(records) != 1:
        raise AdapterError(f"{path}: the model carries {len(records)} adapters; name one")
    name = name or next(iter(records))
    if name not in records:
        raise AdapterError(f"{path}: the model carries no adapter named {name!r}")
    record = records[name]
    return write_adapter(path, adapter_tensors(model, name), record.method, record.config,
                         record.plan, model_fingerprint(model),
                         task if task is not None else record.task, {**record.info, **(info or {})})


def write_adapter(path, tensors: Mapping[str, torch.Tensor], method: str, config,
                  plan: AdapterPlan, base_fingerprint: str, task: dict | None = None,
                  info: dict | None = None) -> Path:
    """The file of an adapter given as tensors (prefix/name); canonical bytes, atomic, 0644
    under the usual umask."""
    from trainer.checkpoint import save_tensors

    metadata = {"format": FORMAT, "version": str(FORMAT_VERSION), "method": method,
                "config": _json(config.to_dict()), "plan": _json(plan.to_dict()),
                "base_fingerprint": base_fingerprint,
                "task": _json(task_description(**(task or {}))), "info": _json(info or {})}
    return save_tensors(path, dict(tensors), metadata)


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------- reading

def read_adapter(path) -> AdapterFile:
    """The decoded file; AdapterError (one line naming the file) for anything unusable."""
    path = Path(path)
    raw, tensors = _read_safetensors(path)
    if raw.get("format") != FORMAT:
        raise AdapterError(f"{path}: not a colora-kit adapter (no '{FORMAT}' metadata)")
    version = _version(path, raw.get("version"))
    try:
        record = _record_v1(raw) if version == 1 else _record_v2(raw)
        fingerprint = str(raw["base_fingerprint"])
    except (KeyError, TypeError, ValueError) as error:
        raise AdapterError(f"{path}: adapter metadata is damaged ({_one_line(error)})") from None
    _check_prefixes(path, record.method, tensors)
    return AdapterFile(path, version, record, fingerprint, tensors)


def _read_safetensors(path: Path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not path.is_file():
        raise AdapterError(f"{path}: no such adapter file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
        return raw, load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise AdapterError(f"{path}: not a readable safetensors file, truncated or damaged "
                           f"({_one_line(error)})") from None


def _version(path: Path, value) -> int:
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise AdapterError(f"{path}: adapter format version {value!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise AdapterError(f"{path}: adapter format {version} comes from a newer colora-kit "
                           f"(this one reads formats 1-{FORMAT_VERSION}); upgrade to load it")
    if version not in READABLE_VERSIONS:
        raise AdapterError(f"{path}: adapter format {version} is not one this colora-kit reads")
    return version


def _record_v2(raw: dict) -> AdapterRecord:
    from trainer.adapters.configs import method_config

    plan = AdapterPlan.from_dict(json.loads(raw["plan"]))
    config = method_config(raw["method"], json.loads(raw["config"]))
    task = task_description(**json.loads(raw["task"]))
    return AdapterRecord(DEFAULT_NAME, raw["method"], config, plan, task, json.loads(raw["info"]))


def _record_v1(raw: dict) -> AdapterRecord:
    """Format 1: the method is the plan's, alpha a key of its own, the task a name in info."""
    from trainer.adapters.configs import method_config

    plan = AdapterPlan.from_dict(json.loads(raw["plan"]))
    info = json.loads(raw["info"])
    config = method_config(plan.method, {"alpha": json.loads(raw["alpha"]),
                                         "budget": plan.budget}, strict=False)
    task = task_description(info.get("task", ""), _known_ops(info.get("task", "")))
    return AdapterRecord(DEFAULT_NAME, plan.method, config, plan, task, info)


def _known_ops(task: str) -> tuple[str, ...]:
    from trainer.tasks import task_ops
    try:
        return task_ops(task)
    except ValueError:
        return ()


def _check_prefixes(path: Path, method: str, tensors: dict) -> None:
    from trainer.adapters.registry import get_method

    try:
        prefixes = get_method(method).prefixes
    except ValueError as error:
        raise AdapterError(f"{path}: {error}") from None
    for key in sorted(tensors):
        if key.partition("/")[0] not in prefixes:
            raise AdapterError(f"{path}: tensor {key!r} is not one a {method} adapter stores "
                               f"({', '.join(prefixes)})")


def _one_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---------------------------------------------------------------- loading

def load_adapter(model: nn.Module, path, name: str | None = None) -> nn.Module:
    """Add the adapter at `path` (or an AdapterFile already read) to `model` as `name` (default "default"), make it the active
    one (weight 1) and return the model; set_adapters() chooses another combination.

    The model must be the adapter's base model, bit for bit: AdapterError otherwise, before the
    model is touched. Layers stay unmerged; merge_and_unload() makes the model plain.
    """
    adapter = path if isinstance(path, AdapterFile) else read_adapter(path)
    path = adapter.path
    name = name or DEFAULT_NAME
    if name in adapter_records(model):
        raise AdapterError(f"{path}: an adapter named {name!r} is already loaded; pass another name")
    actual = model_fingerprint(model)
    if adapter.base_fingerprint != actual:
        raise AdapterError(_wrong_base_message(adapter, actual))
    record = AdapterRecord(name, adapter.method, adapter.record.config, adapter.record.plan,
                           adapter.record.task, adapter.record.info)
    add_adapter(model, record, values=adapter.tensors, source=str(path))
    set_adapters(model, [name])
    return model


def _wrong_base_message(adapter: AdapterFile, actual: str) -> str:
    info = adapter.record.info
    trained_on = info.get("base_path") or info.get("preset") or "another model"
    return (f"{adapter.path}: adapter was trained on a different base model ({trained_on}, "
            f"weights {adapter.base_fingerprint[:12]}); this model's weights are {actual[:12]}")

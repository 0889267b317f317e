"""Adapter files (safetensors): LoRA factors, tuned tensor values and the metadata that ties the
adapter to its base model (fingerprint of the base weights, plan, task, method, preset/config)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from trainer.colora.allocation import AdapterPlan
from trainer.colora.model import apply_plan, lora_layers, model_fingerprint, plain_name

FORMAT = "colora-adapter"
FORMAT_VERSION = "1"
LORA_A, LORA_B, TUNED = "lora_A/", "lora_B/", "tuned/"


class AdapterError(Exception):
    """An adapter file that cannot be applied; the message is one line naming the file."""


def adapter_tensors(model: nn.Module, plan: AdapterPlan) -> dict[str, torch.Tensor]:
    """What an adapter stores: both LoRA factors of each layer and each tuned tensor's value."""
    tensors = {}
    for name, layer in lora_layers(model).items():
        tensors[LORA_A + name] = layer.lora_A.detach()
        tensors[LORA_B + name] = layer.lora_B.detach()
    params = {plain_name(n): p for n, p in model.named_parameters()}
    for name in plan.tuned_parameters:
        tensors[TUNED + name] = params[name].detach()
    return {k: v.cpu().contiguous() for k, v in tensors.items()}


def save_adapter(path, model: nn.Module, plan: AdapterPlan, base_fingerprint: str,
                 alpha: float | None = None, info: dict | None = None) -> Path:
    """Write the adapter of a wrapped `model` atomically (temp name, then rename).

    base_fingerprint: model_fingerprint() of the base taken before training (tuned tensors change
    in place during training). info: extra JSON metadata (task, budget, base_sha256, preset, ...).
    """
    from trainer.checkpoint import save_tensors

    metadata = {"format": FORMAT, "version": FORMAT_VERSION, "base_fingerprint": base_fingerprint,
                "alpha": json.dumps(alpha), "plan": json.dumps(plan.to_dict()),
                "info": json.dumps(info or {}, sort_keys=True)}
    return save_tensors(path, adapter_tensors(model, plan), metadata)


def read_adapter(path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) with plan/info/alpha decoded; AdapterError for anything unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise AdapterError(f"{path}: no such adapter file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise AdapterError(f"{path}: not a readable safetensors file ({error})") from None
    if raw.get("format") != FORMAT:
        raise AdapterError(f"{path}: not a CoLoRA adapter (no '{FORMAT}' metadata)")
    try:
        meta = dict(raw, plan=json.loads(raw["plan"]), info=json.loads(raw["info"]),
                    alpha=json.loads(raw["alpha"]))
        AdapterPlan.from_dict(meta["plan"])
    except (KeyError, TypeError, ValueError) as error:
        raise AdapterError(f"{path}: adapter metadata is damaged ({error!r})") from None
    return tensors, meta


def load_adapter(model: nn.Module, path) -> nn.Module:
    """Attach the adapter at `path` to `model` (in place) and return the model.

    The model must be the adapter's base model, bit for bit: AdapterError otherwise, before the
    model is touched. The result keeps LoRA layers unmerged; merge_and_unload() makes it plain.
    """
    tensors, meta = read_adapter(path)
    if lora_layers(model):
        raise AdapterError(f"{path}: the model already carries an adapter; load a fresh base")
    expected, actual = meta["base_fingerprint"], model_fingerprint(model)
    if expected != actual:
        raise AdapterError(_wrong_base_message(path, meta, expected, actual))
    plan = AdapterPlan.from_dict(meta["plan"])
    apply_plan(model, plan, alpha=meta["alpha"])
    _copy_values(model, plan, tensors, path)
    return model


def _wrong_base_message(path, meta: dict, expected: str, actual: str) -> str:
    trained_on = meta["info"].get("base_path") or meta["info"].get("preset") or "another model"
    return (f"{path}: adapter was trained on a different base model ({trained_on}, weights "
            f"{expected[:12]}); this model's weights are {actual[:12]}")


def _copy_values(model: nn.Module, plan: AdapterPlan, tensors: dict, path) -> None:
    targets = {}
    for name, layer in lora_layers(model).items():
        targets[LORA_A + name], targets[LORA_B + name] = layer.lora_A, layer.lora_B
    params = {plain_name(n): p for n, p in model.named_parameters()}
    targets.update({TUNED + n: params[n] for n in plan.tuned_parameters})
    if set(targets) != set(tensors):
        odd = sorted(set(targets) ^ set(tensors))[0]
        raise AdapterError(f"{path}: tensor {odd!r} does not match the adapter's plan")
    with torch.no_grad():
        for key, target in targets.items():
            if target.shape != tensors[key].shape:
                raise AdapterError(f"{path}: tensor {key!r} has shape "
                                   f"{tuple(tensors[key].shape)}, expected {tuple(target.shape)}")
            target.copy_(tensors[key])

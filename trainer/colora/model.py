"""Wrap a model with a plan: LoRA layers in place of the planned layers, everything else frozen
except the tensors the plan tunes in full; merge back to a plain model."""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from trainer.colora.allocation import AdapterPlan
from trainer.colora.layers import LoRALayer, wrap_layer


def apply_plan(model: nn.Module, plan: AdapterPlan, alpha: float | None = None,
               seed: int = 0) -> nn.Module:
    """Adapt `model` in place and return it: planned layers become LoRA layers (B = 0, so outputs
    are unchanged), the plan's tuned tensors stay trainable, every other parameter is frozen."""
    if lora_layers(model):
        raise ValueError("model already carries LoRA layers; merge or reload it first")
    params = dict(model.named_parameters())
    missing = [n for n in plan.tuned_parameters if n not in params]
    if missing:
        raise KeyError(f"plan tunes {missing[0]!r}, which this model does not have")
    tuned = [params[n] for n in plan.tuned_parameters]
    model.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    for name, rank in plan.lora_ranks.items():
        _replace_module(model, name, wrap_layer(model.get_submodule(name), rank, alpha, generator))
    for param in tuned:
        param.requires_grad_(True)
    return model


def _replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name), attr, new)


def lora_layers(model: nn.Module) -> dict[str, LoRALayer]:
    """LoRA layers by the name of the layer they adapt."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALayer)}


def plain_name(name: str) -> str:
    """A parameter's name in the unwrapped model ('x.base_layer.bias' -> 'x.bias')."""
    return name.replace(".base_layer.", ".").replace(".base_layer", "")


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Fold every LoRA delta into its base layer and put the plain layer back, in place; the
    result has the original parameter names and every parameter trainable again."""
    for name, layer in lora_layers(model).items():
        layer.merge()
        _replace_module(model, name, layer.base_layer)
    model.requires_grad_(True)
    return model


def model_fingerprint(model: nn.Module) -> str:
    """sha256 of the base weights (plain names, dtypes, shapes, bytes): identifies the model an
    adapter was trained on, whichever file or device it came from."""
    digest = hashlib.sha256()
    state = {plain_name(k): v for k, v in model.state_dict().items() if ".lora_" not in k}
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()

"""An adapter as a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors),
loadable with `peft.PeftModel.from_pretrained(base_model, folder)` on the same base module.

What PEFT can represent, and how:
- a low-rank delta (alpha / r) * B @ A on a Linear or an ungrouped Conv2d: a LoRA target with
  its own rank and alpha (rank_pattern, alpha_pattern); A and B keep their values, reshaped to
  PEFT's lora_A (a conv of the base kernel) and lora_B (a 1x1 conv);
- DoRA's magnitude of such a layer: PEFT's `use_dora` with its `lora_magnitude_vector`;
- a tuned bias of a LoRA (not DoRA) layer: lora_B's bias (`lora_bias`), holding
  (tuned - base) / scaling;
- tuned tensors of any other leaf module (a LayerNorm, a conv without LoRA): the module is in
  `modules_to_save` and the file holds all its tensors.
What it cannot: LoRA on grouped or depthwise convolutions (PEFT factorises those per group, a
different delta), other weight variants, biases of DoRA layers (PEFT has no lora_bias with
DoRA), and tuned tensors owned by a module with children (NAFNet's beta/gamma).
Those are refused, or with merge_unsupported baked into a new base model, base_model.safetensors
in the folder, which the PEFT adapter is then meant for.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

CONFIG_NAME, WEIGHTS_NAME, BASE_NAME = "adapter_config.json", "adapter_model.safetensors", "base_model.safetensors"
PREFIX = "base_model.model."


@dataclass(frozen=True)
class LowRankDelta:
    """LoRA's weight change scaling * b @ a (a (r, k), b (d, r)); with a magnitude (d,), DoRA's:
    W = m * V / ||V||_rows with V = W0 + scaling * b @ a (PEFT's use_dora computes the same)."""

    a: torch.Tensor
    b: torch.Tensor
    scaling: float
    magnitude: torch.Tensor | None = None

    @property
    def rank(self) -> int:
        return self.a.shape[0]

    def direction(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + ((self.b @ self.a) * self.scaling).reshape(weight.shape)

    def dense(self, weight: torch.Tensor) -> torch.Tensor:
        """The change of `weight` (the base layer's) this delta makes."""
        direction = self.direction(weight)
        if self.magnitude is None:
            return direction - weight
        scale = self.magnitude / row_norms(direction)
        return scale.view(-1, *[1] * (weight.dim() - 1)) * direction - weight


def row_norms(weight: torch.Tensor) -> torch.Tensor:
    return weight.reshape(weight.shape[0], -1).norm(dim=1)


@dataclass
class PeftPlan:
    """How each part of an adapter goes to PEFT; `unsupported` holds (part, why)."""

    lora: dict[str, LowRankDelta] = field(default_factory=dict)
    dora: bool = False
    lora_bias: dict[str, torch.Tensor] = field(default_factory=dict)
    saved_modules: list[str] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    merge_deltas: dict[str, LowRankDelta | torch.Tensor] = field(default_factory=dict)
    merge_values: dict[str, torch.Tensor] = field(default_factory=dict)


def plan_peft(base: nn.Module, deltas: dict[str, LowRankDelta | torch.Tensor],
              tuned: dict[str, torch.Tensor]) -> PeftPlan:
    """Sort an adapter (weight changes by layer: LoRA factors or a dense tensor; tuned values by
    parameter name; for `base`) into what PEFT represents and what it does not."""
    plan = PeftPlan(dora=any(isinstance(d, LowRankDelta) and d.magnitude is not None
                             for d in deltas.values()))
    for name, delta in deltas.items():
        layer = base.get_submodule(name)
        if isinstance(delta, torch.Tensor):
            plan.unsupported.append((name, "a weight change that is not plain LoRA (DoRA)"))
            plan.merge_deltas[name] = delta
        elif isinstance(layer, nn.Conv2d) and layer.groups > 1:
            plan.unsupported.append((name, f"LoRA on a grouped convolution (groups={layer.groups})"))
            plan.merge_deltas[name] = delta
        else:
            plan.lora[name] = delta
    base_values = dict(base.named_parameters())
    for param, value in tuned.items():
        owner, _, leaf = param.rpartition(".")
        module = base.get_submodule(owner)
        if owner in plan.lora and leaf == "bias" and not plan.dora:
            plan.lora_bias[owner] = (value - base_values[param]) / plan.lora[owner].scaling
        elif owner not in deltas and not list(module.children()):
            if owner not in plan.saved_modules:
                plan.saved_modules.append(owner)
        else:
            why = ("a tensor of a module with children" if list(module.children())
                   else "a tuned weight of a LoRA layer" if leaf != "bias"
                   else "the bias of a DoRA layer (PEFT has no lora_bias with DoRA)"
                   if owner in plan.lora else "the bias of a grouped-convolution LoRA layer")
            plan.unsupported.append((param, why))
            plan.merge_values[param] = value
    return plan


def peft_tensors(base: nn.Module, plan: PeftPlan, tuned: dict[str, torch.Tensor]) -> dict:
    """adapter_model.safetensors: PEFT's names for LoRA factors, lora_B biases, saved modules."""
    tensors = {}
    for name, delta in plan.lora.items():
        layer = base.get_submodule(name)
        if isinstance(layer, nn.Conv2d):
            a = delta.a.reshape(delta.rank, *layer.weight.shape[1:])
            b = delta.b.reshape(*delta.b.shape, 1, 1)
        else:
            a, b = delta.a, delta.b
        tensors[f"{PREFIX}{name}.lora_A.weight"] = a
        tensors[f"{PREFIX}{name}.lora_B.weight"] = b
        if plan.dora:  # plain LoRA is DoRA with m = ||W0 + delta||
            magnitude = (delta.magnitude if delta.magnitude is not None
                         else row_norms(delta.direction(layer.weight.detach())))
            shape = (1, -1, 1, 1) if isinstance(layer, nn.Conv2d) else (-1,)
            tensors[f"{PREFIX}{name}.lora_magnitude_vector"] = magnitude.reshape(shape)
        if plan.lora_bias:
            zeros = torch.zeros(delta.b.shape[0], dtype=delta.b.dtype)
            tensors[f"{PREFIX}{name}.lora_B.bias"] = plan.lora_bias.get(name, zeros)
    for owner in plan.saved_modules:
        for leaf, value in base.get_submodule(owner).state_dict().items():
            tensors[f"{PREFIX}{owner}.{leaf}"] = tuned.get(f"{owner}.{leaf}", value)
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def peft_config(plan: PeftPlan, base_name: str) -> dict:
    """adapter_config.json: one LoRA config whose patterns give every layer its rank and alpha."""
    ranks = {name: d.rank for name, d in plan.lora.items()}
    default = max(set(ranks.values()), key=list(ranks.values()).count) if ranks else 8
    return {
        "peft_type": "LORA", "task_type": None, "base_model_name_or_path": base_name,
        "target_modules": "^(?:" + "|".join(re.escape(n) for n in plan.lora) + ")$",
        "r": default, "lora_alpha": default,
        "rank_pattern": {re.escape(n): r for n, r in ranks.items() if r != default},
        "alpha_pattern": {re.escape(n): d.scaling * d.rank for n, d in plan.lora.items()},
        "lora_dropout": 0.0, "bias": "none", "lora_bias": bool(plan.lora_bias),
        "fan_in_fan_out": False, "use_dora": plan.dora, "use_rslora": False,
        "modules_to_save": plan.saved_modules or None, "init_lora_weights": True,
        "inference_mode": True,
    }


@torch.no_grad()
def merged_base(base: nn.Module, plan: PeftPlan) -> nn.Module:
    """`base` with the unsupported parts baked in (in place)."""
    for name, delta in plan.merge_deltas.items():
        weight = base.get_submodule(name).weight
        dense = delta if isinstance(delta, torch.Tensor) else delta.dense(weight)
        weight.add_(dense.reshape(weight.shape).to(weight.dtype))
    params = dict(base.named_parameters())
    for param, value in plan.merge_values.items():
        params[param].copy_(value)
    return base


def write_peft_folder(out: Path, base: nn.Module, plan: PeftPlan, tuned: dict,
                      base_name: str) -> None:
    from pipelines.files import write_text_atomically
    from trainer.checkpoint import save_tensors

    out.mkdir(parents=True, exist_ok=True)
    save_tensors(out / WEIGHTS_NAME, peft_tensors(base, plan, tuned), {"format": "pt"})
    # the config last: a folder without it is an export cut short, which PEFT will not load
    write_text_atomically(out / CONFIG_NAME, json.dumps(peft_config(plan, base_name), indent=2,
                                                        sort_keys=True) + "\n")

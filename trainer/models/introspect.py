"""Addressing a model's parts: its ordered blocks and the kind of every parameter.

FAIG and CoLoRA speak about "block i" and "the conv weights of block i"; this module is the one
place that defines those words.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from trainer.models.layers import LayerNorm2d

PARTS = ("encoder", "middle", "decoder", "other")
PARAM_KINDS = ("conv", "norm", "bias", "other")

_CONV_TYPES = (nn.modules.conv._ConvNd, nn.Linear)
_NORM_TYPES = (LayerNorm2d, nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)


@dataclass(frozen=True)
class BlockInfo:
    """One addressable block: `index` is its position (0-based, contiguous, in forward order
    from input to output), `name` its qualified module name (`model.get_submodule(name)`),
    `part` one of encoder, middle, decoder, other."""

    index: int
    name: str
    part: str
    module: nn.Module


def make_block_list(model: nn.Module, named_parts: list[tuple[str, str]]) -> list[BlockInfo]:
    """BlockInfo for each (module name, part) pair, indexed in the given order."""
    return [BlockInfo(index, name, part, model.get_submodule(name))
            for index, (name, part) in enumerate(named_parts)]


def param_kind(name: str, param: nn.Parameter, module: nn.Module) -> str:
    """Classify a parameter: "conv" (conv/linear weights), "norm" (normalisation weights and
    biases), "bias" (conv/linear biases) or "other" (NAFNet's beta/gamma, Restormer's attention
    temperature, anything else). `module` is the module that owns the parameter directly and
    `name` its name there or its qualified name (only the last component is used)."""
    leaf = name.rsplit(".", 1)[-1]
    if isinstance(module, _NORM_TYPES):
        return "norm"
    if isinstance(module, _CONV_TYPES):
        if leaf == "weight":
            return "conv"
        if leaf == "bias":
            return "bias"
    return "other"


def named_param_kinds(model: nn.Module) -> dict[str, str]:
    """{qualified parameter name: kind} for every parameter of `model`, in registration order."""
    kinds = {}
    for module_name, module in model.named_modules():
        for leaf, param in module.named_parameters(recurse=False):
            qualified = f"{module_name}.{leaf}" if module_name else leaf
            kinds[qualified] = param_kind(qualified, param, module)
    return kinds


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (works on models built on the meta device)."""
    return sum(p.numel() for p in module.parameters())

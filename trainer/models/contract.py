"""What a restoration model must provide, so that every generic path (create_model, checkpoints,
the loop, restore, FAIG, adapters) works on it without knowing its architecture.

A new architecture is one module that defines its config dataclass and network, registers them
(and its official checkpoint layout, if any) with trainer.models.registry, plus one import line
in trainer/models/__init__.py; `check_model_contract` says whether a built model keeps the
contract (tests run it over every registered preset).
"""
from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from trainer.models.introspect import PARAM_KINDS, PARTS, BlockInfo, named_param_kinds

PROBE_SIZE = (17, 23)  # odd, and not a multiple of any downsampling factor


@runtime_checkable
class RestorationModel(Protocol):
    """An nn.Module mapping a Bx{img_channels}xHxW image in [0, 1] to the same shape, for any H
    and W, with:

    config: a plain-JSON dict {"arch": a registered architecture, "img_channels": int, ...}
        from which trainer.models.model_from_config rebuilds the same network;
    preset: the preset name it was created from (None when rebuilt from a config);
    blocks(): the addressable blocks FAIG scores and adapters target, as BlockInfo (index 0..n-1
        in forward order, name = a submodule path, part in encoder/middle/decoder/other, in that
        order); every parameter lies in at most one block, and every parameter's kind
        (trainer.models.param_kind) follows from the module that owns it.
    """

    config: dict[str, Any]
    preset: str | None

    def blocks(self) -> list[BlockInfo]: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


class ContractError(ValueError):
    """A model that does not keep the RestorationModel contract; the message says which part."""


def check_model_contract(model: nn.Module) -> None:
    """Raise ContractError naming the first broken part of the contract. Rebuilding and the
    probe forward run on the meta device: shapes only, no memory or compute."""
    where = getattr(model, "preset", None) or type(model).__name__
    if not isinstance(model, nn.Module) or not isinstance(model, RestorationModel):
        raise ContractError(f"{where}: not an nn.Module with config, preset, blocks() and forward")
    channels = _check_config(model, where)
    _check_blocks(model, where)
    kinds = set(named_param_kinds(model).values())
    if not kinds <= set(PARAM_KINDS):
        raise ContractError(f"{where}: parameter kinds {sorted(kinds - set(PARAM_KINDS))} "
                            f"are not among {PARAM_KINDS}")
    _check_probe(model, channels, where)


def _check_config(model: nn.Module, where: str) -> int:
    from trainer.models.registry import model_from_config

    config = model.config
    if not isinstance(config, dict) or json.loads(json.dumps(config)) != config:
        raise ContractError(f"{where}: config must be a plain-JSON dict, got {config!r}")
    channels = config.get("img_channels")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ContractError(f"{where}: config['img_channels'] must be a positive int, "
                            f"got {channels!r}")
    try:
        with torch.device("meta"):
            rebuilt = model_from_config(config)
    except ValueError as error:
        raise ContractError(f"{where}: config does not rebuild the model ({error})") from None
    if _shapes(rebuilt) != _shapes(model) or rebuilt.config != config:
        raise ContractError(f"{where}: model_from_config(config) builds a different network")
    return channels


def _check_blocks(model: nn.Module, where: str) -> None:
    blocks = model.blocks()
    if not blocks:
        raise ContractError(f"{where}: blocks() is empty")
    if [b.index for b in blocks] != list(range(len(blocks))):
        raise ContractError(f"{where}: block indices must be 0..{len(blocks) - 1} in order")
    if any(b.part not in PARTS for b in blocks) or \
            [PARTS.index(b.part) for b in blocks] != sorted(PARTS.index(b.part) for b in blocks):
        raise ContractError(f"{where}: block parts must be among {PARTS}, in that order")
    owners: dict[int, str] = {}
    for block in blocks:
        try:
            addressed = model.get_submodule(block.name)
        except AttributeError:
            addressed = None
        if addressed is not block.module:
            raise ContractError(f"{where}: block {block.index} {block.name!r} is not the "
                                f"submodule of that name")
        for param in block.module.parameters():
            if id(param) in owners:
                raise ContractError(f"{where}: blocks {owners[id(param)]!r} and "
                                    f"{block.name!r} share parameters")
            owners[id(param)] = block.name


def _check_probe(model: nn.Module, channels: int, where: str) -> None:
    from trainer.models.registry import model_from_config

    with torch.device("meta"):
        probe = torch.empty(1, channels, *PROBE_SIZE)
        output = model_from_config(model.config)(probe)
    if tuple(output.shape) != tuple(probe.shape):
        raise ContractError(f"{where}: a {tuple(probe.shape)} image came out as "
                            f"{tuple(output.shape)}")


def _shapes(model: nn.Module) -> dict[str, tuple]:
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}

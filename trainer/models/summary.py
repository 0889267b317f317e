"""Sizes of the registered presets and of their blocks, for `trainer models`.

Models are built on the meta device: shapes only, no memory and no initialisation time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from trainer.models.introspect import count_parameters
from trainer.models.registry import create_model, get_preset, list_presets


@dataclass(frozen=True)
class BlockSummary:
    index: int
    name: str
    part: str
    parameters: int


@dataclass(frozen=True)
class PresetSummary:
    name: str
    arch: str
    description: str
    parameters: int
    block_parameters: dict  # part -> parameters in that part's blocks
    blocks: tuple  # BlockSummary per block, in index order
    config: dict

    def block_counts(self) -> dict[str, int]:
        counts = {}
        for block in self.blocks:
            counts[block.part] = counts.get(block.part, 0) + 1
        return counts

    def as_dict(self) -> dict:
        return {"name": self.name, "arch": self.arch, "description": self.description,
                "parameters": self.parameters, "block_parameters": self.block_parameters,
                "block_counts": self.block_counts(), "config": self.config,
                "blocks": [vars(block) for block in self.blocks]}


def summarize_preset(name: str) -> PresetSummary:
    """Parameter counts of preset `name`, in total, per part and per block."""
    preset = get_preset(name)
    with torch.device("meta"):
        model = create_model(name)
    blocks = tuple(BlockSummary(b.index, b.name, b.part, count_parameters(b.module))
                   for b in model.blocks())
    per_part = {}
    for block in blocks:
        per_part[block.part] = per_part.get(block.part, 0) + block.parameters
    return PresetSummary(name, preset.arch, preset.description, count_parameters(model),
                         per_part, blocks, model.config)


def summarize_presets() -> list[PresetSummary]:
    return [summarize_preset(name) for name in list_presets()]

"""The model contract (trainer.models.contract) holds for every registered preset, and
check_model_contract names what a model that breaks it gets wrong."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.models import (BlockInfo, ContractError, RestorationModel, check_model_contract,
                            create_model, get_preset, list_presets, model_from_config,
                            named_param_kinds)
from trainer.models.nafnet import NAFNet


@pytest.mark.parametrize("name", list_presets())
def test_every_registered_preset_keeps_the_contract(name):
    with torch.device("meta"):
        model = create_model(name)
    assert isinstance(model, RestorationModel)
    check_model_contract(model)
    assert model.preset == name and model_from_config(model.config).preset is None
    assert {"encoder", "middle", "decoder"} <= {b.part for b in model.blocks()}
    assert list(named_param_kinds(model)) == [n for n, _ in model.named_parameters()]


class _Broken(NAFNet):
    """nafnet-tiny with one part of the contract broken at a time."""

    def __init__(self, breakage: str):
        super().__init__(get_preset("nafnet-tiny").config)
        self.preset, self.breakage = "broken", breakage

    @property
    def config(self) -> dict:
        changes = {"config": {"img_channels": 0}, "rebuild": {"width": 16}}.get(self.breakage, {})
        return {**super().config, **changes}

    def blocks(self):
        blocks = super().blocks()
        if self.breakage == "order":
            first, last = blocks[0], blocks[-1]
            blocks[0] = BlockInfo(0, last.name, last.part, last.module)
            blocks[-1] = BlockInfo(last.index, first.name, first.part, first.module)
        if self.breakage == "address":
            blocks[1] = BlockInfo(1, "nowhere", blocks[1].part, blocks[1].module)
        if self.breakage == "shared":
            blocks.append(BlockInfo(len(blocks), "middle_blks", "other", self.middle_blks))
        return blocks


@pytest.mark.parametrize("breakage,message", [
    ("config", r"img_channels'\] must be a positive int"),
    ("order", "parts must be among"),
    ("address", "is not the submodule of that name"),
    ("shared", "share parameters"),
    ("rebuild", "builds a different network"),
])
def test_a_broken_contract_is_named(breakage, message):
    with pytest.raises(ContractError, match=message):
        check_model_contract(_Broken(breakage))


def test_a_module_without_blocks_is_not_a_restoration_model():
    model = nn.Conv2d(3, 3, 3)
    assert not isinstance(model, RestorationModel)
    with pytest.raises(ContractError, match="config, preset, blocks"):
        check_model_contract(model)

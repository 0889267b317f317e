"""Adding a model architecture is one module plus one import line (trainer/models/__init__.py):
a tiny U-Net declared wholly in this file (config, network, blocks, official checkpoint
layout, registration) runs through every generic path without any other change."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from trainer.models import registry

ARCH = "tinyunet-test"


# ---------------------------------------------------------------- what the new module holds

@dataclass(frozen=True)
class TinyUNetConfig:
    img_channels: int = 3
    width: int = 4


class TinyUNet(nn.Module):
    """conv -> encoder block -> stride-2 down -> middle block -> up -> decoder block -> conv."""

    def __init__(self, config: TinyUNetConfig):
        super().__init__()
        self._config, c = config, config.width
        self.intro = nn.Conv2d(config.img_channels, c, 3, padding=1)
        self.enc = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(1, c))
        self.down = nn.Conv2d(c, 2 * c, 2, stride=2)
        self.mid = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec = nn.Conv2d(c, c, 3, padding=1)
        self.ending = nn.Conv2d(c, config.img_channels, 3, padding=1)
        self.preset = None

    @property
    def config(self) -> dict:
        return registry.config_to_dict(ARCH, self._config)

    def forward(self, x):
        height, width = x.shape[-2:]
        padded = nn.functional.pad(x, (0, width % 2, 0, height % 2), mode="replicate")
        skip = self.enc(self.intro(padded))
        out = self.ending(self.dec(self.up(self.mid(self.down(skip))) + skip))
        return (out + padded)[..., :height, :width]

    def blocks(self):
        from trainer.models.introspect import make_block_list
        return make_block_list(self, [("enc", "encoder"), ("mid", "middle"), ("dec", "decoder")])


def official_to_native(state_dict: dict) -> dict:  # the "official" code calls intro "head"
    return {k.replace("head.", "intro.", 1): v for k, v in state_dict.items()}


def native_to_official(state_dict: dict) -> dict:
    return {k.replace("intro.", "head.", 1): v for k, v in state_dict.items()}


def official_arguments(config: dict) -> tuple[str, dict]:
    return "TinyUNet", {"in_ch": config["img_channels"], "width": config["width"]}


def register() -> None:  # a real module runs these two calls at import
    registry.register_architecture(ARCH, TinyUNetConfig, TinyUNet, registry.OfficialLayout(
        official_to_native, native_to_official, official_arguments))
    registry.register_preset("tinyunet-test", ARCH, TinyUNetConfig(), "tiny U-Net (test)")


# ---------------------------------------------------------------- the generic paths

@pytest.fixture
def registered(monkeypatch):
    """The architecture registered for one test; the registry is as before afterwards."""
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(registry._ARCHITECTURES))
    monkeypatch.setattr(registry, "_PRESETS", dict(registry._PRESETS))
    register()
    torch.manual_seed(0)
    return registry.create_model("tinyunet-test")


def test_it_is_a_preset_and_keeps_the_model_contract(registered):
    from trainer.models import check_model_contract, list_presets
    from trainer.models.summary import summarize_preset

    assert "tinyunet-test" in list_presets() and registered.preset == "tinyunet-test"
    check_model_contract(registered)
    assert [(b.name, b.part) for b in registered.blocks()] == [
        ("enc", "encoder"), ("mid", "middle"), ("dec", "decoder")]
    assert summarize_preset("tinyunet-test").block_parameters["middle"] == 8 * 8 * 9 + 8


def test_model_files_save_and_load_it(registered, tmp_path):
    from trainer.checkpoint import load_model, save_model

    save_model(tmp_path / "m.safetensors", registered)
    loaded, metadata = load_model(tmp_path / "m.safetensors")
    x = torch.rand(1, 3, 9, 11)
    assert type(loaded) is TinyUNet and metadata["preset"] == "tinyunet-test"
    assert torch.equal(loaded(x), registered.eval()(x))


def test_faig_scores_its_blocks_and_parameter_kinds(registered):
    import copy

    from trainer.faig import faig_scores, summarize

    target = copy.deepcopy(registered)
    with torch.no_grad():
        for param in target.parameters():
            param.add_(0.05 * torch.randn_like(param))
    lq = torch.rand(2, 3, 8, 8)
    scores = faig_scores(registered, target, [(lq, (lq * 0.9).clamp(0, 1))], steps=2)
    summary = summarize(registered, scores)
    assert [b["name"] for b in summary["blocks"]] == ["enc", "mid", "dec"]
    assert summary["kinds"]["norm"]["params"] == 8 and summary["kinds"]["conv"]["score"] > 0
    in_blocks = sum(b["score"] for b in summary["blocks"])
    assert in_blocks + summary["outside_blocks"] == pytest.approx(summary["total"])


def test_its_official_layout_comes_from_its_registration(registered, tmp_path):
    from trainer.models.official import (find_matching_presets, load_official_weights,
                                         save_official_checkpoint, to_official_state_dict)

    assert save_official_checkpoint(registered, tmp_path / "o.pth") == {
        "type": "TinyUNet", "in_ch": 3, "width": 4}
    assert "head.weight" in to_official_state_dict(registered)
    fresh = load_official_weights(registry.create_model("tinyunet-test"), tmp_path / "o.pth")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                  registered.state_dict().values()))
    assert find_matching_presets(to_official_state_dict(registered)) == ["tinyunet-test"]


def test_it_trains_and_restores(registered):
    from trainer.loop import LoopConfig, fit
    from trainer.restore import restore_image

    def batches(start):
        generator = torch.Generator().manual_seed(start)
        while True:
            gt = torch.rand(2, 3, 8, 8, generator=generator)
            yield {"lq": (gt + 0.1).clamp(0, 1), "gt": gt}

    result = fit(registered, batches, LoopConfig(steps=3, log_every=1, progress=False))
    assert result.steps == 3 and np.isfinite(result.final_loss)
    image = np.random.default_rng(0).integers(0, 256, (21, 35, 3), dtype=np.uint8)
    assert restore_image(registered, image, tile=16, overlap=8).shape == image.shape

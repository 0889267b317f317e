"""NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

Module and parameter names follow the official release (megvii-research/NAFNet), so official
checkpoints load with one documented difference: `beta` and `gamma` are stored 1-D (C,) here and
(1, C, 1, 1) there (see `official_to_native`). Blocks are indexed encoder -> middle -> decoder.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainer.models.introspect import BlockInfo, make_block_list
from trainer.models.layers import LayerNorm2d, SimpleGate, pad_to_multiple
from trainer.models.registry import (OfficialLayout, check_positive_ints, config_to_dict,
                                     register_architecture, register_preset)

ARCH = "nafnet"


@dataclass(frozen=True)
class NAFNetConfig:
    """`enc_blocks[i]`/`dec_blocks[i]`: NAFBlocks per level (both lists have one entry per
    level; each level halves the resolution and doubles the channels)."""

    img_channels: int = 3
    width: int = 32
    enc_blocks: tuple[int, ...] = (2, 2, 4, 8)
    middle_blocks: int = 12
    dec_blocks: tuple[int, ...] = (2, 2, 2, 2)
    dw_expand: int = 2
    ffn_expand: int = 2

    def __post_init__(self):
        object.__setattr__(self, "enc_blocks", tuple(self.enc_blocks))
        object.__setattr__(self, "dec_blocks", tuple(self.dec_blocks))
        check_positive_ints(self, ("img_channels", "width", "dw_expand", "ffn_expand"),
                            "nafnet config")
        if len(self.enc_blocks) != len(self.dec_blocks):
            raise ValueError(f"nafnet config: enc_blocks {list(self.enc_blocks)} and dec_blocks "
                             f"{list(self.dec_blocks)} need one entry per level each")
        counts = (*self.enc_blocks, *self.dec_blocks, self.middle_blocks)
        if any(not isinstance(n, int) or n < 0 for n in counts):
            raise ValueError("nafnet config: block counts must be integers >= 0")
        if (self.width * self.dw_expand) % 2 or (self.width * self.ffn_expand) % 2:
            raise ValueError("nafnet config: width * dw_expand and width * ffn_expand must be "
                             "even (SimpleGate splits channels in halves)")


class NAFBlock(nn.Module):
    """LayerNorm -> 1x1 expand -> 3x3 depthwise -> SimpleGate -> simplified channel attention
    -> 1x1, scaled by `beta` into the residual; then the FFN half (LayerNorm -> 1x1 ->
    SimpleGate -> 1x1) scaled by `gamma`. beta and gamma start at zero (identity block)."""

    def __init__(self, channels: int, dw_expand: int = 2, ffn_expand: int = 2):
        super().__init__()
        dw_channels = channels * dw_expand
        ffn_channels = channels * ffn_expand
        self.conv1 = nn.Conv2d(channels, dw_channels, 1)
        self.conv2 = nn.Conv2d(dw_channels, dw_channels, 3, padding=1, groups=dw_channels)
        self.conv3 = nn.Conv2d(dw_channels // 2, channels, 1)
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                 nn.Conv2d(dw_channels // 2, dw_channels // 2, 1))
        self.sg = SimpleGate()
        self.conv4 = nn.Conv2d(channels, ffn_channels, 1)
        self.conv5 = nn.Conv2d(ffn_channels // 2, channels, 1)
        self.norm1 = LayerNorm2d(channels, eps=1e-6)
        self.norm2 = LayerNorm2d(channels, eps=1e-6)
        # 1-D and viewed at use: see LayerNorm2d for why not (1, C, 1, 1).
        self.beta = nn.Parameter(torch.zeros(channels))
        self.gamma = nn.Parameter(torch.zeros(channels))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta.view(1, -1, 1, 1)
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + x * self.gamma.view(1, -1, 1, 1)


def _stage(channels: int, count: int, config: NAFNetConfig) -> nn.Sequential:
    return nn.Sequential(*[NAFBlock(channels, config.dw_expand, config.ffn_expand)
                           for _ in range(count)])


class NAFNet(nn.Module):
    """U-shaped NAFNet: 3x3 intro conv, per level NAFBlocks then a stride-2 2x2 down conv
    (channels x2), middle blocks, per level a 1x1 conv + PixelShuffle(2) up (channels /2), an
    additive skip and NAFBlocks, a 3x3 ending conv and the global residual. Inputs of any size
    are zero-padded bottom/right to a multiple of 2**levels and cropped back."""

    residual_output = "ending"  # zeroed by trainer.models.start_at_identity

    def __init__(self, config: NAFNetConfig):
        super().__init__()
        self._config = config
        channels = config.width
        self.intro = nn.Conv2d(config.img_channels, channels, 3, padding=1)
        self.ending = nn.Conv2d(channels, config.img_channels, 3, padding=1)
        # Registration order as in the official code, so state dicts list keys identically.
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.middle_blks = nn.Sequential()
        self.ups = nn.ModuleList()
        self.downs = nn.ModuleList()
        for count in config.enc_blocks:
            self.encoders.append(_stage(channels, count, config))
            self.downs.append(nn.Conv2d(channels, channels * 2, 2, stride=2))
            channels *= 2
        self.middle_blks = _stage(channels, config.middle_blocks, config)
        for count in config.dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(channels, channels * 2, 1, bias=False),
                                          nn.PixelShuffle(2)))
            channels //= 2
            self.decoders.append(_stage(channels, count, config))
        self.pad_multiple = 2 ** len(config.enc_blocks)

    @property
    def config(self) -> dict:
        return config_to_dict(ARCH, self._config)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        inp = pad_to_multiple(inp, self.pad_multiple)
        x = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = decoder(up(x) + skip)
        x = self.ending(x) + inp
        return x[..., :height, :width]

    def blocks(self) -> list[BlockInfo]:
        """The NAFBlocks in forward order: encoder levels, middle, decoder levels."""
        named = [(f"encoders.{level}.{i}", "encoder")
                 for level, count in enumerate(self._config.enc_blocks) for i in range(count)]
        named += [(f"middle_blks.{i}", "middle") for i in range(self._config.middle_blocks)]
        named += [(f"decoders.{level}.{i}", "decoder")
                  for level, count in enumerate(self._config.dec_blocks) for i in range(count)]
        return make_block_list(self, named)


# Official checkpoint layout <-> ours: only beta/gamma differ, (1, C, 1, 1) there, (C,) here.
_SCALE_SUFFIXES = (".beta", ".gamma")


def official_to_native(state_dict: dict) -> dict:
    """Official NAFNet state dict -> this module's layout (beta/gamma flattened to 1-D)."""
    return {key: value.reshape(-1) if key.endswith(_SCALE_SUFFIXES) else value
            for key, value in state_dict.items()}


def native_to_official(state_dict: dict) -> dict:
    """This module's state dict -> the official layout (beta/gamma as (1, C, 1, 1))."""
    return {key: value.reshape(1, -1, 1, 1) if key.endswith(_SCALE_SUFFIXES) else value
            for key, value in state_dict.items()}


def official_arguments(config: dict) -> tuple[str, dict]:
    """The official code's class name and constructor arguments for a model.config dict."""
    if (config["dw_expand"], config["ffn_expand"]) != (2, 2):
        raise ValueError("the official NAFNet fixes dw_expand and ffn_expand at 2, this model has "
                         f"{config['dw_expand']} and {config['ffn_expand']}")
    return "NAFNet", {"img_channel": config["img_channels"], "width": config["width"],
                      "middle_blk_num": config["middle_blocks"],
                      "enc_blk_nums": list(config["enc_blocks"]),
                      "dec_blk_nums": list(config["dec_blocks"])}


def build_nafnet(config: NAFNetConfig) -> NAFNet:
    return NAFNet(config)


register_architecture(ARCH, NAFNetConfig, build_nafnet,
                      OfficialLayout(official_to_native, native_to_official, official_arguments))
register_preset("nafnet-sidd-w32", ARCH, NAFNetConfig(),
                "NAFNet width 32 (SIDD denoising, the CoLoRA paper's base model), 29.16M")
register_preset("nafnet-sidd-w64", ARCH, NAFNetConfig(width=64),
                "NAFNet width 64, official SIDD denoising release")
register_preset("nafnet-gopro-w32", ARCH,
                NAFNetConfig(enc_blocks=(1, 1, 1, 28), middle_blocks=1, dec_blocks=(1, 1, 1, 1)),
                "NAFNet width 32, official GoPro deblurring release")
register_preset("nafnet-gopro-w64", ARCH,
                NAFNetConfig(width=64, enc_blocks=(1, 1, 1, 28), middle_blocks=1,
                             dec_blocks=(1, 1, 1, 1)),
                "NAFNet width 64, official GoPro deblurring release")
register_preset("nafnet-small", ARCH,
                NAFNetConfig(width=16, enc_blocks=(1, 1, 1, 2), middle_blocks=2,
                             dec_blocks=(1, 1, 1, 1)),
                "small NAFNet for CPU demos")
register_preset("nafnet-tiny", ARCH,
                NAFNetConfig(width=8, enc_blocks=(1, 1, 1, 1), middle_blocks=1,
                             dec_blocks=(1, 1, 1, 1)),
                "tiny NAFNet for tests")

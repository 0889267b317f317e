"""Restormer (Zamir et al., "Efficient Transformer for High-Resolution Image Restoration",
CVPR 2022).

Module names follow the official release (swz30/Restormer) with two documented differences,
undone by `official_to_native`: the channel LayerNorms hold their parameters directly
(`norm1.weight`, official `norm1.body.weight`), and the attention `temperature` is 1-D (heads,)
here, (heads, 1, 1) there. Blocks are indexed: encoder levels 1-3 ("encoder"), the latent
level ("middle"), decoder levels 3-1 and the refinement blocks ("decoder"). The dual-pixel
defocus variant (6 input channels, skip conv) is not provided.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from trainer.models.introspect import BlockInfo, make_block_list
from trainer.models.layers import LayerNorm2d, pad_to_multiple
from trainer.models.registry import (OfficialLayout, check_positive_ints, config_to_dict,
                                     register_architecture, register_preset)

ARCH = "restormer"
LAYERNORM_TYPES = ("with_bias", "bias_free")


@dataclass(frozen=True)
class RestormerConfig:
    """`num_blocks`: transformer blocks at levels 1-4 (level 4 is the latent); `heads`:
    attention heads per level; `bias`: biases in the blocks' convs; `layernorm`: "with_bias"
    (deblurring, deraining releases) or "bias_free" (denoising releases)."""

    img_channels: int = 3
    dim: int = 48
    num_blocks: tuple[int, ...] = (4, 6, 6, 8)
    num_refinement_blocks: int = 4
    heads: tuple[int, ...] = (1, 2, 4, 8)
    ffn_expansion_factor: float = 2.66
    bias: bool = False
    layernorm: str = "with_bias"

    def __post_init__(self):
        object.__setattr__(self, "num_blocks", tuple(self.num_blocks))
        object.__setattr__(self, "heads", tuple(self.heads))
        if len(self.num_blocks) != 4 or len(self.heads) != 4:
            raise ValueError("restormer config: num_blocks and heads need 4 entries (levels 1-4)")
        if self.layernorm not in LAYERNORM_TYPES:
            raise ValueError(f"restormer config: layernorm must be one of {LAYERNORM_TYPES}, "
                             f"got {self.layernorm!r}")
        check_positive_ints(self, ("img_channels", "dim"), "restormer config")
        counts = (*self.num_blocks, self.num_refinement_blocks)
        if any(not isinstance(n, int) or n < 0 for n in counts):
            raise ValueError("restormer config: block counts must be integers >= 0")
        if not isinstance(self.bias, bool):
            raise ValueError(f"restormer config: bias must be true or false, got {self.bias!r}")
        for level, heads in enumerate(self.heads):
            channels = self.dim * 2 ** level
            if heads < 1 or channels % heads:
                raise ValueError(f"restormer config: {heads} heads do not divide the "
                                 f"{channels} channels of level {level + 1}")
        if self.dim % 2:
            raise ValueError("restormer config: dim must be even (downsampling halves it)")
        if not isinstance(self.ffn_expansion_factor, (int, float)) or self.ffn_expansion_factor <= 0:
            raise ValueError("restormer config: ffn_expansion_factor must be positive")


class Attention(nn.Module):
    """Multi-Dconv head transposed attention: attention across channels (C/heads x C/heads
    per head) rather than pixels, with a learnt per-head temperature."""

    def __init__(self, dim: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attention = (q @ k.transpose(-2, -1)) * self.temperature.view(1, -1, 1, 1)
        out = attention.softmax(dim=-1) @ v
        return self.project_out(out.reshape(b, c, h, w))


class FeedForward(nn.Module):
    """Gated-Dconv feed-forward: 1x1 to 2 x hidden, 3x3 depthwise, GELU(first) * second, 1x1."""

    def __init__(self, dim: int, expansion: float, bias: bool):
        super().__init__()
        hidden = int(dim * expansion)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, config: RestormerConfig):
        super().__init__()
        with_bias = config.layernorm == "with_bias"
        self.norm1 = LayerNorm2d(dim, eps=1e-5, bias=with_bias)
        self.attn = Attention(dim, heads, config.bias)
        self.norm2 = LayerNorm2d(dim, eps=1e-5, bias=with_bias)
        self.ffn = FeedForward(dim, config.ffn_expansion_factor, config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """3x3 conv to half the channels, then PixelUnshuffle(2): channels x2, resolution /2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False),
                                  nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """3x3 conv to twice the channels, then PixelShuffle(2): channels /2, resolution x2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False),
                                  nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _stage(dim: int, heads: int, count: int, config: RestormerConfig) -> nn.Sequential:
    return nn.Sequential(*[TransformerBlock(dim, heads, config) for _ in range(count)])


class Restormer(nn.Module):
    """Four-level transformer U-Net with concatenated skips (reduced by 1x1 convs at levels 3
    and 2), refinement blocks at full resolution and the global residual. Inputs of any size
    are reflect-padded bottom/right to a multiple of 8, as the official test scripts do, and
    cropped back."""

    pad_multiple = 8
    residual_output = "output"  # zeroed by trainer.models.start_at_identity

    def __init__(self, config: RestormerConfig):
        super().__init__()
        self._config = config
        dim, heads, blocks, bias = config.dim, config.heads, config.num_blocks, config.bias
        self.patch_embed = PatchEmbed(config.img_channels, dim)
        self.encoder_level1 = _stage(dim, heads[0], blocks[0], config)
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = _stage(dim * 2, heads[1], blocks[1], config)
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = _stage(dim * 4, heads[2], blocks[2], config)
        self.down3_4 = Downsample(dim * 4)
        self.latent = _stage(dim * 8, heads[3], blocks[3], config)
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, 1, bias=bias)
        self.decoder_level3 = _stage(dim * 4, heads[2], blocks[2], config)
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, 1, bias=bias)
        self.decoder_level2 = _stage(dim * 2, heads[1], blocks[1], config)
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = _stage(dim * 2, heads[0], blocks[0], config)
        self.refinement = _stage(dim * 2, heads[0], config.num_refinement_blocks, config)
        self.output = nn.Conv2d(dim * 2, config.img_channels, 3, padding=1, bias=bias)

    @property
    def config(self) -> dict:
        return config_to_dict(ARCH, self._config)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        height, width = inp.shape[-2:]
        inp = pad_to_multiple(inp, self.pad_multiple, mode="reflect")
        level1 = self.encoder_level1(self.patch_embed(inp))
        level2 = self.encoder_level2(self.down1_2(level1))
        level3 = self.encoder_level3(self.down2_3(level2))
        x = self.latent(self.down3_4(level3))
        x = self.reduce_chan_level3(torch.cat([self.up4_3(x), level3], dim=1))
        x = self.decoder_level3(x)
        x = self.reduce_chan_level2(torch.cat([self.up3_2(x), level2], dim=1))
        x = self.decoder_level2(x)
        x = self.decoder_level1(torch.cat([self.up2_1(x), level1], dim=1))
        x = self.output(self.refinement(x)) + inp
        return x[..., :height, :width]

    def blocks(self) -> list[BlockInfo]:
        """Transformer blocks in forward order: encoder levels 1-3, latent (middle), decoder
        levels 3-1 then refinement (decoder)."""
        stages = [("encoder_level1", "encoder"), ("encoder_level2", "encoder"),
                  ("encoder_level3", "encoder"), ("latent", "middle"),
                  ("decoder_level3", "decoder"), ("decoder_level2", "decoder"),
                  ("decoder_level1", "decoder"), ("refinement", "decoder")]
        named = [(f"{stage}.{i}", part) for stage, part in stages
                 for i in range(len(self.get_submodule(stage)))]
        return make_block_list(self, named)


def official_to_native(state_dict: dict) -> dict:
    """Official Restormer state dict -> this module's layout: `normN.body.X` -> `normN.X`,
    `attn.temperature` (heads, 1, 1) -> (heads,)."""
    native = {}
    for key, value in state_dict.items():
        key = key.replace(".norm1.body.", ".norm1.").replace(".norm2.body.", ".norm2.")
        native[key] = value.reshape(-1) if key.endswith(".attn.temperature") else value
    return native


def native_to_official(state_dict: dict) -> dict:
    """This module's state dict -> the official layout (inverse of `official_to_native`)."""
    official = {}
    for key, value in state_dict.items():
        if key.endswith(".attn.temperature"):
            value = value.reshape(-1, 1, 1)
        key = key.replace(".norm1.", ".norm1.body.").replace(".norm2.", ".norm2.body.")
        official[key] = value
    return official


_OFFICIAL_LAYERNORM = {"with_bias": "WithBias", "bias_free": "BiasFree"}


def official_arguments(config: dict) -> tuple[str, dict]:
    """The official code's class name and constructor arguments for a model.config dict."""
    return "Restormer", {"inp_channels": config["img_channels"],
                         "out_channels": config["img_channels"], "dim": config["dim"],
                         "num_blocks": list(config["num_blocks"]),
                         "num_refinement_blocks": config["num_refinement_blocks"],
                         "heads": list(config["heads"]),
                         "ffn_expansion_factor": config["ffn_expansion_factor"],
                         "bias": config["bias"],
                         "LayerNorm_type": _OFFICIAL_LAYERNORM[config["layernorm"]],
                         "dual_pixel_task": False}


def build_restormer(config: RestormerConfig) -> Restormer:
    return Restormer(config)


register_architecture(ARCH, RestormerConfig, build_restormer,
                      OfficialLayout(official_to_native, native_to_official, official_arguments))
register_preset("restormer", ARCH, RestormerConfig(),
                "Restormer (deblurring/deraining releases, with-bias LayerNorm), 26.13M")
register_preset("restormer-biasfree-ln", ARCH, RestormerConfig(layernorm="bias_free"),
                "Restormer with bias-free LayerNorm (official denoising releases)")
register_preset("restormer-tiny", ARCH,
                RestormerConfig(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1),
                "tiny Restormer for tests")

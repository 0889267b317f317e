"""NAFNet and Restormer against slow, independent float64 numpy implementations written from
the papers' descriptions: one block of each, and the whole U-shaped wiring of the tiny presets
(padding, downsampling, upsampling, skips, global residual)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import erf

from trainer.models import create_model
from trainer.models.nafnet import NAFBlock
from trainer.models.restormer import RestormerConfig, TransformerBlock


def randomize(model, seed=0, scale=0.2):
    """Seeded normal noise in every parameter (beta/gamma start at zero, which would make
    every block the identity and the comparison vacuous)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * scale)


def params_of(module) -> dict[str, np.ndarray]:
    return {k: v.detach().double().numpy() for k, v in module.state_dict().items()}


def conv(x, weight, bias=None, stride=1, groups=1):
    """Zero-padded 'same' cross-correlation on one CHW image, by explicit loops over taps."""
    out_ch, in_per_group, kh, kw = weight.shape
    if kh == kw == 1 and groups == 1:
        out = np.einsum("oc,chw->ohw", weight[:, :, 0, 0], x)
        return out if bias is None else out + bias[:, None, None]
    pad = kh // 2 if stride == 1 else 0
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    h = (xp.shape[1] - kh) // stride + 1
    w = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((out_ch, h, w))
    out_per_group = out_ch // groups
    for o in range(out_ch):
        g = o // out_per_group
        for c in range(in_per_group):
            for dy in range(kh):
                for dx in range(kw):
                    patch = xp[g * in_per_group + c, dy:dy + stride * h:stride,
                               dx:dx + stride * w:stride]
                    out[o] += weight[o, c, dy, dx] * patch
    if bias is not None:
        out += bias[:, None, None]
    return out


def layer_norm(x, weight, bias, eps=1e-6):
    """Over channels at each pixel; bias None: Restormer's bias-free form (no centring)."""
    mean = x.mean(axis=0, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
    if bias is None:
        return x / np.sqrt(var + eps) * weight[:, None, None]
    return (x - mean) / np.sqrt(var + eps) * weight[:, None, None] + bias[:, None, None]


def simple_gate(x):
    half = x.shape[0] // 2
    return x[:half] * x[half:]


def nafblock_reference(x, p, prefix=""):
    def get(name):
        return p[prefix + name]
    t = layer_norm(x, get("norm1.weight"), get("norm1.bias"))
    t = conv(t, get("conv1.weight"), get("conv1.bias"))
    t = conv(t, get("conv2.weight"), get("conv2.bias"), groups=t.shape[0])
    t = simple_gate(t)
    attention = get("sca.1.weight")[:, :, 0, 0] @ t.mean(axis=(1, 2)) + get("sca.1.bias")
    t = conv(t * attention[:, None, None], get("conv3.weight"), get("conv3.bias"))
    y = x + t * get("beta")[:, None, None]
    t = layer_norm(y, get("norm2.weight"), get("norm2.bias"))
    t = simple_gate(conv(t, get("conv4.weight"), get("conv4.bias")))
    t = conv(t, get("conv5.weight"), get("conv5.bias"))
    return y + t * get("gamma")[:, None, None]


def pixel_shuffle(x, r=2):
    c, h, w = x.shape
    out = np.zeros((c // (r * r), h * r, w * r))
    for channel in range(c):
        base, offset = divmod(channel, r * r)
        dy, dx = divmod(offset, r)
        out[base, dy::r, dx::r] = x[channel]
    return out


def nafnet_reference(image, p, config):
    height, width = image.shape[1:]
    multiple = 2 ** len(config["enc_blocks"])
    padded = np.zeros((3, -(-height // multiple) * multiple, -(-width // multiple) * multiple))
    padded[:, :height, :width] = image
    x = conv(padded, p["intro.weight"], p["intro.bias"])
    skips = []
    for level, count in enumerate(config["enc_blocks"]):
        for i in range(count):
            x = nafblock_reference(x, p, f"encoders.{level}.{i}.")
        skips.append(x)
        x = conv(x, p[f"downs.{level}.weight"], p[f"downs.{level}.bias"], stride=2)
    for i in range(config["middle_blocks"]):
        x = nafblock_reference(x, p, f"middle_blks.{i}.")
    for level, count in enumerate(config["dec_blocks"]):
        x = pixel_shuffle(conv(x, p[f"ups.{level}.0.weight"])) + skips.pop()
        for i in range(count):
            x = nafblock_reference(x, p, f"decoders.{level}.{i}.")
    x = conv(x, p["ending.weight"], p["ending.bias"]) + padded
    return x[:, :height, :width]


def test_nafblock_matches_numpy_reference():
    block = NAFBlock(4).double()
    randomize(block, seed=1)
    x = torch.randn(1, 4, 7, 9, dtype=torch.float64)
    got = block(x)[0].detach().numpy()
    np.testing.assert_allclose(got, nafblock_reference(x[0].numpy(), params_of(block)),
                               rtol=1e-9, atol=1e-9)


def test_nafnet_wiring_matches_numpy_reference_on_odd_size():
    model = create_model("nafnet-tiny").double()
    randomize(model, seed=2, scale=0.1)
    image = torch.rand(1, 3, 19, 21, dtype=torch.float64)
    got = model(image)[0].detach().numpy()
    expected = nafnet_reference(image[0].numpy(), params_of(model), model.config)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)


def test_fresh_nafnet_is_the_identity_plus_intro_ending_path():
    # beta/gamma start at zero, so every block passes its input through unchanged and the
    # output depends on intro/downs/ups/ending only; with those zeroed it is the input itself.
    model = create_model("nafnet-tiny")
    with torch.no_grad():
        for name in ("intro", "ending"):
            getattr(model, name).weight.zero_()
            getattr(model, name).bias.zero_()
    image = torch.rand(2, 3, 17, 30)
    torch.testing.assert_close(model(image), image)


def restormer_block_reference(x, p, heads, prefix=""):
    def get(name):
        return p.get(prefix + name)
    c, h, w = x.shape
    t = layer_norm(x, get("norm1.weight"), get("norm1.bias"), eps=1e-5)
    qkv = conv(conv(t, get("attn.qkv.weight"), get("attn.qkv.bias")),
               get("attn.qkv_dwconv.weight"), get("attn.qkv_dwconv.bias"), groups=3 * c)
    out = np.zeros((c, h * w))
    per_head = c // heads
    for head in range(heads):
        rows = slice(head * per_head, (head + 1) * per_head)
        q, k, v = (qkv[offset:offset + c][rows].reshape(per_head, h * w)
                   for offset in (0, c, 2 * c))
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        k = k / np.linalg.norm(k, axis=1, keepdims=True)
        logits = q @ k.T * get("attn.temperature")[head]
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        out[rows] = weights / weights.sum(axis=1, keepdims=True) @ v
    x = x + conv(out.reshape(c, h, w), get("attn.project_out.weight"),
                 get("attn.project_out.bias"))
    t = layer_norm(x, get("norm2.weight"), get("norm2.bias"), eps=1e-5)
    t = conv(t, get("ffn.project_in.weight"), get("ffn.project_in.bias"))
    t = conv(t, get("ffn.dwconv.weight"), get("ffn.dwconv.bias"), groups=t.shape[0])
    gate, value = np.split(t, 2)
    t = 0.5 * gate * (1 + erf(gate / np.sqrt(2))) * value
    return x + conv(t, get("ffn.project_out.weight"), get("ffn.project_out.bias"))


def pixel_unshuffle(x, r=2):
    c, h, w = x.shape
    out = np.zeros((c * r * r, h // r, w // r))
    for channel in range(c):
        for dy in range(r):
            for dx in range(r):
                out[channel * r * r + dy * r + dx] = x[channel, dy::r, dx::r]
    return out


def restormer_reference(image, p, config):
    height, width = image.shape[1:]
    padded = np.pad(image, ((0, 0), (0, -height % 8), (0, -width % 8)), mode="reflect")

    def stage(x, name, heads):
        index = 0
        while f"{name}.{index}.norm1.weight" in p:
            x = restormer_block_reference(x, p, heads, f"{name}.{index}.")
            index += 1
        return x

    heads = config["heads"]
    level1 = stage(conv(padded, p["patch_embed.proj.weight"]), "encoder_level1", heads[0])
    level2 = stage(pixel_unshuffle(conv(level1, p["down1_2.body.0.weight"])),
                   "encoder_level2", heads[1])
    level3 = stage(pixel_unshuffle(conv(level2, p["down2_3.body.0.weight"])),
                   "encoder_level3", heads[2])
    x = stage(pixel_unshuffle(conv(level3, p["down3_4.body.0.weight"])), "latent", heads[3])
    x = np.concatenate([pixel_shuffle(conv(x, p["up4_3.body.0.weight"])), level3])
    x = stage(conv(x, p["reduce_chan_level3.weight"]), "decoder_level3", heads[2])
    x = np.concatenate([pixel_shuffle(conv(x, p["up3_2.body.0.weight"])), level2])
    x = stage(conv(x, p["reduce_chan_level2.weight"]), "decoder_level2", heads[1])
    x = np.concatenate([pixel_shuffle(conv(x, p["up2_1.body.0.weight"])), level1])
    x = stage(stage(x, "decoder_level1", heads[0]), "refinement", heads[0])
    return (conv(x, p["output.weight"]) + padded)[:, :height, :width]


@pytest.mark.parametrize("layernorm", ["with_bias", "bias_free"])
def test_restormer_block_matches_numpy_reference(layernorm):
    config = RestormerConfig(dim=8, bias=True, layernorm=layernorm)
    block = TransformerBlock(8, 2, config).double()
    randomize(block, seed=3, scale=0.3)
    x = torch.randn(1, 8, 6, 5, dtype=torch.float64)
    got = block(x)[0].detach().numpy()
    expected = restormer_block_reference(x[0].numpy(), params_of(block), heads=2)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_restormer_wiring_matches_numpy_reference_on_odd_size():
    model = create_model("restormer-tiny", heads=[1, 2, 2, 4]).double()
    randomize(model, seed=4, scale=0.1)
    image = torch.rand(1, 3, 11, 13, dtype=torch.float64)
    got = model(image)[0].detach().numpy()
    expected = restormer_reference(image[0].numpy(), params_of(model), model.config)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8)

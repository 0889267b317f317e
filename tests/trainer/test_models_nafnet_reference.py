"""NAFNet against a slow, independent float64 numpy implementation written from the paper's
description: one NAFBlock, and the whole U-shaped wiring of a tiny preset (padding to a
multiple of 16, stride-2 downs, 1x1 + PixelShuffle ups, additive skips, global residual)."""
from __future__ import annotations

import numpy as np
import torch

from trainer.models import create_model
from trainer.models.nafnet import NAFBlock


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
    mean = x.mean(axis=0, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=0, keepdims=True)
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

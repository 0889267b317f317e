"""Every registered preset restores any image size (its contract: test_models_contract.py); the
paper presets' exact size and block layout; config overrides; parameter kinds; LayerNorm2d."""
from __future__ import annotations

import pytest
import torch

from trainer.models import (count_parameters, create_model, get_preset, list_presets,
                            model_from_config, named_param_kinds, param_kind)
from trainer.models.layers import LayerNorm2d

PRESETS = list_presets()


def build_on_meta(name, **overrides):
    """Structure-only build (no memory, no init time) for tests that never run a forward."""
    with torch.device("meta"):
        return create_model(name, **overrides)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_restores_odd_sized_input_to_same_shape(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.rand(1, 3, 37, 45)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["nafnet-tiny", "restormer-tiny"])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (4, 9)])
def test_images_smaller_than_the_padding_multiple_are_restored(name, size):
    # Restormer reflect-pads, which needs pad < size; it falls back to replicate below that.
    model = create_model(name).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_paper_preset_has_the_published_size_and_block_layout():
    model = build_on_meta("nafnet-sidd-w32")
    assert count_parameters(model) == 29_159_715
    blocks = model.blocks()
    assert len(blocks) == 36
    split = {part: sum(count_parameters(b.module) for b in blocks if b.part == part)
             for part in ("encoder", "middle", "decoder")}
    assert round(split["encoder"] / 1e6, 2) == 4.29
    assert round(split["middle"] / 1e6, 2) == 22.22
    assert round(split["decoder"] / 1e6, 2) == 1.25
    assert [b.index for b in blocks if b.part == "encoder"] == list(range(0, 16))
    assert [b.index for b in blocks if b.part == "middle"] == list(range(16, 28))
    assert [b.index for b in blocks if b.part == "decoder"] == list(range(28, 36))
    assert blocks[0].name == "encoders.0.0" and blocks[16].name == "middle_blks.0"
    assert blocks[35].name == "decoders.3.1"


def test_restormer_preset_has_the_published_size_and_block_layout():
    model = build_on_meta("restormer")
    assert count_parameters(model) == 26_126_644
    parts = [b.part for b in model.blocks()]
    assert parts == ["encoder"] * 16 + ["middle"] * 8 + ["decoder"] * 20
    names = [b.name for b in model.blocks()]
    assert names[16] == "latent.0" and names[-1] == "refinement.3"
    kinds = named_param_kinds(model)
    assert kinds["latent.0.attn.temperature"] == "other"
    assert kinds["latent.0.norm1.bias"] == "norm"
    assert kinds["latent.0.ffn.dwconv.weight"] == "conv"
    assert not any(kind == "bias" for kind in kinds.values())  # bias-free convs


def test_overrides_change_the_config_and_bad_names_fail_clearly():
    model = create_model("nafnet-tiny", width=16, middle_blocks=3)
    assert model.config["width"] == 16 and len(model.blocks()) == 4 + 3 + 4
    with pytest.raises(ValueError, match="unknown option.*widht"):
        create_model("nafnet-tiny", widht=16)
    with pytest.raises(ValueError, match="unknown model preset 'nafnet-huge'"):
        create_model("nafnet-huge")
    with pytest.raises(ValueError, match="one entry per level"):
        create_model("nafnet-tiny", enc_blocks=[1, 1])
    with pytest.raises(ValueError, match="width must be a positive integer"):
        create_model("nafnet-tiny", width=0)
    with pytest.raises(ValueError, match="unknown arch"):
        model_from_config({"arch": "unet"})
    assert get_preset("nafnet-sidd-w32").arch == "nafnet"
    with pytest.raises(ValueError, match="3 heads do not divide"):
        create_model("restormer-tiny", heads=[1, 3, 4, 8])
    with pytest.raises(ValueError, match="layernorm must be one of"):
        create_model("restormer-tiny", layernorm="batch")


def test_same_seed_gives_the_same_weights():
    torch.manual_seed(3)
    first = create_model("nafnet-tiny").state_dict()
    torch.manual_seed(3)
    second = create_model("nafnet-tiny").state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_param_kind_classifies_nafnet_parameters():
    kinds = named_param_kinds(create_model("nafnet-tiny"))
    assert kinds["encoders.0.0.conv1.weight"] == "conv"
    assert kinds["encoders.0.0.conv2.weight"] == "conv"
    assert kinds["encoders.0.0.sca.1.weight"] == "conv"
    assert kinds["encoders.0.0.conv1.bias"] == "bias"
    assert kinds["encoders.0.0.norm1.weight"] == "norm"
    assert kinds["encoders.0.0.norm2.bias"] == "norm"
    assert kinds["encoders.0.0.beta"] == "other"
    assert kinds["middle_blks.0.gamma"] == "other"
    assert kinds["ups.0.0.weight"] == "conv"
    assert kinds["intro.bias"] == "bias"
    linear = torch.nn.Linear(2, 2)
    assert param_kind("weight", linear.weight, linear) == "conv"
    assert param_kind("fc.bias", linear.bias, linear) == "bias"


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm2d_matches_torch_layernorm_over_channels(bias):
    torch.manual_seed(0)
    norm = LayerNorm2d(5, eps=1e-6, bias=bias)
    with torch.no_grad():
        norm.weight.normal_()
        if bias:
            norm.bias.normal_()
    x = torch.randn(2, 5, 4, 3, dtype=torch.float64) * 3 + 1
    reference = torch.nn.functional.layer_norm(
        x.permute(0, 2, 3, 1), (5,), norm.weight.double(),
        norm.bias.double() if bias else None, eps=1e-6).permute(0, 3, 1, 2)
    if not bias:  # bias-free variant (Restormer): no mean subtraction
        var = x.var(dim=1, keepdim=True, unbiased=False)
        reference = x / torch.sqrt(var + 1e-6) * norm.weight.double().view(1, -1, 1, 1)
    got = norm.double()(x)
    torch.testing.assert_close(got, reference, rtol=1e-10, atol=1e-10)


def test_layernorm2d_keeps_low_precision_dtype_and_channels_last():
    norm = LayerNorm2d(4)
    x = torch.randn(1, 4, 6, 6).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    y = norm(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), norm(x.float()), rtol=2e-2, atol=2e-2)

"""Adapted layers on every layer kind, with the LoRA and DoRA variants."""
import numpy as np
import pytest
import torch
from torch import nn

from trainer.adapters.layer import AdaptedLayer, AdapterSet, LowRank, max_rank
from trainer.adapters.methods.dora import WeightDecomposed

KINDS = {
    "conv1x1": lambda: nn.Conv2d(6, 8, 1),
    "conv3x3": lambda: nn.Conv2d(6, 8, 3, padding=1),
    "depthwise": lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8),
    "grouped": lambda: nn.Conv2d(6, 8, 3, padding=1, groups=2),
    "strided_nobias": lambda: nn.Conv2d(6, 8, 2, stride=2, bias=False),
    "reflect": lambda: nn.Conv2d(6, 8, 3, padding=1, padding_mode="reflect"),
    "linear": lambda: nn.Linear(6, 8),
}
VARIANTS = {"lora": LowRank, "dora": WeightDecomposed}


def _input(layer):
    torch.manual_seed(3)
    if isinstance(layer, nn.Linear):
        return torch.randn(2, 5, layer.in_features)
    return torch.randn(2, layer.in_channels, 6, 6)


def _adapted(kind, variant="lora", rank=2, trained=True):
    torch.manual_seed(0)
    base = KINDS[kind]()
    adapters = AdapterSet()
    layer = AdaptedLayer(base, adapters)
    layer.factors["a"] = VARIANTS[variant](base.weight, rank, alpha=3.0)
    adapters.activate(["a"], torch.ones(1))
    if trained:
        with torch.no_grad():
            layer.factors["a"].lora_B.normal_()
            if variant == "dora":
                layer.factors["a"].magnitude.mul_(1.5)
    return layer


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", KINDS)
def test_zero_init_leaves_the_weight_exactly(kind, variant):
    layer = _adapted(kind, variant, trained=False)
    weight = layer.base_layer.weight
    assert torch.equal(layer.composed(["a"], [1.0])["weight"], weight)
    x = _input(layer.base_layer)
    assert torch.allclose(layer(x), layer.base_layer(x), atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind", KINDS)
def test_merge_and_unmerge_are_exact(kind, variant):
    layer = _adapted(kind, variant)
    x = _input(layer.base_layer)
    original = layer.base_layer.weight.detach().clone()
    adapted = layer(x)
    layer.merge()
    assert torch.allclose(layer.base_layer(x), adapted, atol=1e-5)
    assert torch.allclose(layer(x), adapted, atol=1e-5)
    layer.unmerge()
    assert torch.equal(layer.base_layer.weight, original)
    assert torch.allclose(layer(x), adapted, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_lora_delta_is_low_rank_against_dense_reference(kind):
    """delta = (alpha / r) B A, reshaped to the stored weight: checked with numpy."""
    layer = _adapted(kind, rank=2)
    weight = layer.base_layer.weight
    factors = layer.factors["a"]
    a, b = factors.lora_A.detach().numpy(), factors.lora_B.detach().numpy()
    expected = (1.5 * (b @ a)).reshape(weight.shape)
    delta = factors.delta_weight(weight).detach().numpy()
    assert delta.shape == tuple(weight.shape)
    assert abs(delta - expected).max() < 1e-6
    matrix = delta.reshape(weight.shape[0], -1)
    assert torch.linalg.matrix_rank(torch.from_numpy(matrix)) <= 2


@pytest.mark.parametrize("kind", KINDS)
def test_dora_weight_against_numpy_reference(kind):
    """W = m * V / ||V||_c with V = W0 + (alpha / r) B A, per output row, in float64 numpy;
    the merged weight's row norms are the magnitudes."""
    layer = _adapted(kind, "dora", rank=2)
    factors = layer.factors["a"]
    w0 = layer.base_layer.weight.detach().double().numpy().reshape(8, -1)
    a, b = factors.lora_A.detach().double().numpy(), factors.lora_B.detach().double().numpy()
    m = factors.magnitude.detach().double().numpy()
    v = w0 + 1.5 * (b @ a)
    expected = m[:, None] * v / np.linalg.norm(v, axis=1, keepdims=True)
    layer.merge()
    merged = layer.base_layer.weight.detach().double().numpy().reshape(8, -1)
    assert abs(merged - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(merged, axis=1), m, rtol=1e-5)


def test_depthwise_adapted_output_matches_conv_with_summed_weight():
    layer = _adapted("depthwise", rank=3)
    x = _input(layer.base_layer)
    weight = layer.base_layer.weight + layer.factors["a"].delta_weight(layer.base_layer.weight)
    reference = nn.functional.conv2d(x, weight, layer.base_layer.bias, padding=1, groups=8)
    assert torch.allclose(layer(x), reference, atol=1e-6)
    assert layer.factors["a"].lora_A.shape == (3, 9) and layer.factors["a"].lora_B.shape == (8, 3)


def test_rank_limits_and_parameter_counts():
    assert max_rank(nn.Conv2d(8, 8, 3, groups=8)) == 8 and max_rank(nn.Conv2d(2, 4, 1)) == 2
    with pytest.raises(ValueError, match="rank"):
        LowRank(nn.Conv2d(2, 4, 1).weight, 3)
    assert LowRank.parameter_count(2, 8, 9) == 34
    assert WeightDecomposed.parameter_count(2, 8, 9) == 34 + 8
    layer = _adapted("conv3x3", "dora")
    assert sum(p.numel() for p in layer.factors["a"].parameters()) == \
        WeightDecomposed.parameter_count(2, 8, 54)


@pytest.mark.parametrize("variant", VARIANTS)
def test_only_factors_get_gradients(variant):
    layer = _adapted("conv3x3", variant)
    layer.base_layer.requires_grad_(False)
    layer(_input(layer.base_layer)).square().sum().backward()
    assert all(p.grad is not None for p in layer.factors["a"].parameters())
    assert layer.base_layer.weight.grad is None


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_per_image_weights_equal_each_image_alone(kind, grad):
    """A LoRA and a DoRA adapter (the DoRA one also tuning the bias), a row per image."""
    layer = _adapted(kind)
    base = layer.base_layer
    layer.add("b", VARIANTS["dora"](base.weight, 2),
              {"bias": nn.Parameter(base.bias + 1.0)} if base.bias is not None else {})
    rows = torch.tensor([[1.0, 0.0], [0.3, -0.7], [0.0, 0.0]])
    x = torch.cat([_input(base)] * 2)[:3]
    with torch.set_grad_enabled(grad):
        layer.adapter_set.activate(["a", "b"], rows)
        batched = layer(x)
        for i in range(3):
            layer.adapter_set.activate(["a", "b"], rows[i])
            assert torch.allclose(batched[i:i + 1], layer(x[i:i + 1]), atol=1e-5), i

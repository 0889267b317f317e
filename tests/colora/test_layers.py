import pytest
import torch
from torch import nn

from trainer.colora.layers import LoRAConv2d, LoRALinear, max_rank, wrap_layer

KINDS = {
    "conv1x1": lambda: nn.Conv2d(6, 8, 1),
    "conv3x3": lambda: nn.Conv2d(6, 8, 3, padding=1),
    "depthwise": lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8),
    "grouped": lambda: nn.Conv2d(6, 8, 3, padding=1, groups=2),
    "strided_nobias": lambda: nn.Conv2d(6, 8, 2, stride=2, bias=False),
    "linear": lambda: nn.Linear(6, 8),
}


def _input(layer):
    torch.manual_seed(3)
    if isinstance(layer, nn.Linear):
        return torch.randn(2, 5, layer.in_features)
    return torch.randn(2, layer.in_channels, 6, 6)


def _trained(kind, rank=2):
    torch.manual_seed(0)
    base = KINDS[kind]()
    layer = wrap_layer(base, rank, alpha=3.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    return layer


@pytest.mark.parametrize("kind", KINDS)
def test_zero_init_reproduces_base_exactly(kind):
    base = KINDS[kind]()
    x = _input(base)
    expected = base(x)
    layer = wrap_layer(base, 2)
    assert torch.equal(layer(x), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_merge_and_unmerge_are_exact(kind):
    layer = _trained(kind)
    x = _input(layer.base_layer)
    original = layer.base_layer.weight.detach().clone()
    adapted = layer(x)
    layer.merge()
    assert torch.allclose(layer.base_layer(x), adapted, atol=1e-5)
    assert torch.allclose(layer(x), adapted, atol=1e-5)
    layer.unmerge()
    assert torch.allclose(layer.base_layer.weight, original, atol=1e-5)
    assert torch.allclose(layer(x), adapted, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_delta_is_low_rank_against_dense_reference(kind):
    """delta = (alpha / r) B A, reshaped to the stored weight: checked with numpy."""
    layer = _trained(kind, rank=2)
    weight = layer.base_layer.weight
    a, b = layer.lora_A.detach().numpy(), layer.lora_B.detach().numpy()
    expected = (1.5 * (b @ a)).reshape(weight.shape)
    delta = layer.delta_weight().detach().numpy()
    assert delta.shape == tuple(weight.shape)
    assert abs(delta - expected).max() < 1e-6
    matrix = delta.reshape(weight.shape[0], -1)
    assert torch.linalg.matrix_rank(torch.from_numpy(matrix)) <= 2


def test_depthwise_adapted_output_matches_conv_with_summed_weight():
    layer = _trained("depthwise", rank=3)
    x = _input(layer.base_layer)
    weight = layer.base_layer.weight + layer.delta_weight()
    reference = nn.functional.conv2d(x, weight, layer.base_layer.bias, padding=1, groups=8)
    assert torch.allclose(layer(x), reference, atol=1e-6)
    assert layer.lora_A.shape == (3, 9) and layer.lora_B.shape == (8, 3)


def test_classes_and_rank_limits():
    assert isinstance(wrap_layer(nn.Conv2d(2, 2, 1), 1), LoRAConv2d)
    assert isinstance(wrap_layer(nn.Linear(2, 2), 1), LoRALinear)
    assert max_rank(nn.Conv2d(8, 8, 3, groups=8)) == 8 and max_rank(nn.Conv2d(2, 4, 1)) == 2
    with pytest.raises(ValueError, match="rank"):
        wrap_layer(nn.Conv2d(2, 4, 1), 3)
    with pytest.raises(TypeError, match="Conv2d and Linear"):
        wrap_layer(nn.Conv1d(2, 2, 1), 1)


def test_only_factors_get_gradients():
    layer = _trained("conv3x3")
    layer.base_layer.requires_grad_(False)
    layer(_input(layer.base_layer)).square().sum().backward()
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None
    assert layer.base_layer.weight.grad is None

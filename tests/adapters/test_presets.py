"""Every registered method over every small registered preset: step 0 unchanged, merge exact,
budget met (CoLoRA), per-image weights work on the real architectures."""
import pytest
import torch

from trainer.adapters import (BudgetConfig, adapted_layers, apply_plan, get_method, make_plan,
                              merge_and_unload, method_config, method_names, set_adapters,
                              set_level)
from trainer.models import create_model, list_presets

SMALL = [name for name in list_presets() if "tiny" in name or "small" in name]


def _scores(model):
    return {name: float(p.numel() % 7 + 1) for name, p in model.named_parameters()}


@pytest.mark.parametrize("preset", SMALL)
def test_colora_budget_on_preset(preset):
    model = create_model(preset)
    plan = make_plan(model, "colora", BudgetConfig(budget=0.07), _scores(model))
    assert abs(plan.tuned_count - 0.07 * plan.model_params) <= 0.05 * 0.07 * plan.model_params


@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("preset", SMALL)
def test_method_on_preset(preset, method):
    torch.manual_seed(0)
    model = create_model(preset).eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
    config = method_config(method, {"budget": 0.07}, strict=False)
    apply_plan(model, make_plan(model, method, config, _scores(model)), config)
    if get_method(method).levels:  # level methods run at a level c (both terms then count)
        set_level(model, 0.7)
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-5)
        for layer in adapted_layers(model).values():
            for factors in layer.factors.values():
                factors.lora_B.normal_(std=0.01)
            for values in layer.tuned.values():
                for value in values.values():
                    value.add_(0.01 * torch.randn_like(value))
        adapted = model(x)
        set_adapters(model, "default", torch.tensor([[1.0], [0.0]]))
        per_image = model(x)
        assert torch.allclose(per_image[0], adapted[0], atol=1e-5)
        assert torch.allclose(per_image[1], expected[1], atol=1e-5)
        set_adapters(model, "default")
        assert torch.allclose(merge_and_unload(model)(x), adapted, atol=1e-5)

"""CoLoRA over every small registered preset: step 0 unchanged, merge exact, budget met."""
import pytest
import torch

from trainer.colora import AdapterConfig, apply_plan, make_plan, merge_and_unload
from trainer.models import create_model, list_presets

SMALL = [name for name in list_presets() if "tiny" in name or "small" in name]


@pytest.mark.parametrize("preset", SMALL)
def test_colora_on_preset(preset):
    torch.manual_seed(0)
    model = create_model(preset).eval()
    scores = {name: float(p.numel() % 7 + 1) for name, p in model.named_parameters()}
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
    plan = make_plan(model, AdapterConfig(budget=0.07), scores)
    assert abs(plan.tuned_count - 0.07 * plan.model_params) <= 0.05 * 0.07 * plan.model_params
    apply_plan(model, plan)
    with torch.no_grad():
        assert torch.equal(model(x), expected)
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(std=0.01)
        adapted = model(x)
        assert torch.allclose(merge_and_unload(model)(x), adapted, atol=1e-5)

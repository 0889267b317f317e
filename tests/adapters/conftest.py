"""Adapters of every registered method on the toy model, trained by a stand-in perturbation."""
import copy

import pytest
import torch

from trainer.adapters import apply_plan, make_plan, method_config, trainable_parameters


def perturb(model, seed=7, scale=0.1):
    """Stand-in for training: move every trainable tensor."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in trainable_parameters(model):
            param.add_(scale * torch.randn(param.shape, generator=generator))


def adapted_copy(base, method, scores, seed=0, budget=0.3):
    """A copy of `base` carrying a perturbed adapter of `method` (active, named "default")."""
    model = copy.deepcopy(base)
    config = method_config(method, {"budget": budget, "seed": seed}, strict=False)
    apply_plan(model, make_plan(model, method, config, scores), config)
    perturb(model, seed=100 + seed)
    return model


@pytest.fixture
def make_adapter(toy, depth_scores, tmp_path):
    """(path of a saved adapter of `method`, the adapted model) on a copy of the toy model."""
    from trainer.adapters import save_adapter

    def make(method, seed=0, name=None):
        model = adapted_copy(toy, method, depth_scores(toy), seed)
        path = save_adapter(tmp_path / f"{name or method}-{seed}.safetensors", model,
                            task={"name": method, "ops": ["gaussian_blur"], "level_range": [0.1, 0.5]})
        return path, model
    return make

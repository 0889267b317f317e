"""Every registered method end to end, and the registry as the one list of methods."""
import copy

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from trainer.adapters import (adapted_layers, all_methods, get_method, load_adapter,
                              merge_and_unload, method_config, method_names, read_adapter,
                              save_adapter, set_level)
from trainer.adapters.registry import FILE_ONLY_MODULES, METHOD_MODULES
from trainer.finetune import TrainConfig, finetune, pair_batches


def _pairs(count=2, size=12):
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    lq = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    return [(f"p{i}", lq[i], gt[i]) for i in range(count)]


@pytest.mark.parametrize("method", method_names())
def test_plan_train_save_load_merge(toy, depth_scores, images, tmp_path, method):
    lq, _ = images
    base = copy.deepcopy(toy)
    config = method_config(method, {"budget": 0.3, "seed": 1}, strict=False)
    train = TrainConfig(steps=2, batch=2, patch=8, lr=1e-2, progress=False)
    levelled = get_method(method).levels  # trained and run at a level c per image
    batches = pair_batches(_pairs(), 2, 8, 0, [0.2, 0.9]) if levelled else None
    result = finetune(toy, _pairs(), method, train, config, depth_scores(base), batches=batches)
    assert result.plan.method == method
    path = save_adapter(tmp_path / "a.safetensors", result.model)
    assert read_adapter(path).method == method
    loaded = load_adapter(copy.deepcopy(base), path)
    if levelled:
        set_level(result.model, 0.7)
        set_level(loaded, 0.7)
    with torch.no_grad():
        trained = result.model(lq)
        assert not torch.allclose(trained, base(lq), atol=1e-4), "training moved nothing"
        assert torch.allclose(loaded(lq), trained, atol=1e-5)
        merged = merge_and_unload(loaded)
        assert not adapted_layers(merged)
        assert torch.allclose(merged(lq), trained, atol=1e-5)


def test_every_table_entry_registers_itself_with_its_prefixes():
    for name in [*METHOD_MODULES, *FILE_ONLY_MODULES]:
        method = get_method(name)
        assert method.name == name and method.label
        terms = ("level",) if method.levels else ()  # a level term's tensors: level/...
        assert method.prefixes[-1 - len(terms):] == ("tuned", *terms)
        assert (method.variant is None) == (method.prefixes == ("tuned", *terms))
    assert [m.name for m in all_methods()] == method_names() == list(METHOD_MODULES)
    assert {"full", "decoder", "lora", "colora", "dora", "codora", "levels",
            "levels-full"} == set(method_names())
    with pytest.raises(ValueError, match="unknown method 'x'.*colora"):
        get_method("x")


def test_cli_choices_and_dry_run_come_from_the_registry():
    from trainer.commands.colora import colora

    method_option = next(p for p in colora.params if p.name == "method")
    assert list(method_option.type.choices) == method_names()
    result = CliRunner().invoke(colora, ["--help"])
    assert all(name in result.output for name in method_names())


NEW_METHOD = '''
from trainer.adapters.allocation import plan_uniform
from trainer.adapters.configs import RankConfig
from trainer.adapters.layer import LowRank
from trainer.adapters.registry import Method, register_method


class HalfScale(LowRank):
    def delta_weight(self, weight):
        return 0.5 * self.low_rank_delta(weight)


def plan(model, config, scores=None, kind_of=None):
    return plan_uniform(model, config.budget, config.rank, "halflora", HalfScale)


register_method(Method("halflora", "Half LoRA", RankConfig, plan, HalfScale))
'''


def test_a_new_method_is_one_module_and_one_table_line(monkeypatch, toy, depth_scores, images,
                                                       tmp_path):
    from trainer.adapters import registry
    from trainer.adapters.planning import plan_counts

    (tmp_path / "halflora_method.py").write_text(NEW_METHOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))
    monkeypatch.setitem(registry.METHOD_MODULES, "halflora", "halflora_method")
    assert "halflora" in method_names()
    assert "halflora" in [row[0] for row in plan_counts(toy, None, {"rank": 2})]
    lq, _ = images
    base = copy.deepcopy(toy)
    train = TrainConfig(steps=2, batch=2, patch=8, lr=1e-2, progress=False)
    result = finetune(toy, _pairs(), "halflora", train, method_config("halflora", {"rank": 2}))
    path = save_adapter(tmp_path / "half.safetensors", result.model)
    with torch.no_grad():
        assert torch.allclose(load_adapter(base, path)(lq), result.model(lq), atol=1e-5)

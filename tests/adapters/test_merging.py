"""Weighted adapters merged into a model, or composed into one adapter (exact or by SVD)."""
import copy

import numpy as np
import pytest
import torch

from trainer.adapters import (AdapterError, adapted_layers, apply_plan, load_adapter, make_plan,
                              merge_and_unload, rank_cap, read_adapter, save_adapter,
                              set_adapters, write_adapter)
from trainer.adapters.merging import compose, merge_into_model, read_sources

ATOL = 1e-5


def _write(composition, path):
    return write_adapter(path, composition.tensors, "composed", composition.config,
                         composition.plan, composition.base_fingerprint, composition.task,
                         composition.info)


@pytest.mark.parametrize("methods", [("lora", "colora"), ("colora", "dora", "full")])
def test_composed_adapter_is_exact(toy, make_adapter, images, tmp_path, methods):
    lq, _ = images
    paths = [make_adapter(m, seed=i)[0] for i, m in enumerate(methods)]
    weights = [0.6, 0.4, -0.3][:len(paths)]
    files = read_sources(paths, weights)
    composition = compose(copy.deepcopy(toy), files, weights)
    assert composition.relative_error == 0.0 and composition.config.rank is None
    path = _write(composition, tmp_path / "composed.safetensors")
    single = load_adapter(copy.deepcopy(toy), path)
    with torch.no_grad():
        merged = merge_into_model(copy.deepcopy(toy), files, weights)(lq)
        assert torch.allclose(single(lq), merged, atol=ATOL)
    task = read_adapter(path).record.task
    assert task["ops"] == ["gaussian_blur"] and task["level_range"] == [0.1, 0.5]
    if methods == ("lora", "colora"):  # LoRA factors only: ranks concatenated where they fit
        ranks = [read_adapter(p).record.plan.lora_ranks for p in paths]
        plan = read_adapter(path).record.plan
        for layer in set(ranks[0]) | set(ranks[1]):
            total = ranks[0].get(layer, 0) + ranks[1].get(layer, 0)
            item = next(i for i in files[0].record.plan.layers if i.name == layer)
            if total <= rank_cap(item.d, item.k):
                assert plan.lora_ranks[layer] == total, layer
            else:  # more factors than weight values: stored in full
                assert f"{layer}.weight" in plan.tuned_parameters, layer
        assert plan.lora_ranks


def test_svd_rank_reports_the_relative_error_of_numpy(toy, make_adapter):
    paths = [make_adapter(m, seed=i)[0] for i, m in enumerate(("lora", "dora"))]
    weights = [0.7, 0.5]
    files = read_sources(paths, weights)
    composition = compose(copy.deepcopy(toy), files, weights, rank=1)
    # reference: the dense changes W_merged - W0 of each conv/linear weight, truncated by numpy
    merged = merge_into_model(copy.deepcopy(toy), files, weights)
    base = dict(toy.named_parameters())
    err = norm = 0.0
    for name, param in merged.named_parameters():
        if name.endswith(".weight") and param.dim() in (2, 4):
            delta = (param - base[name]).detach().double().numpy().reshape(param.shape[0], -1)
            s = np.linalg.svd(delta, compute_uv=False)
            err, norm = err + np.sum(s[1:] ** 2), norm + np.sum(s ** 2)
    assert composition.relative_error == pytest.approx(np.sqrt(err / norm), rel=1e-4)
    assert 0.0 < composition.relative_error < 1.0
    assert set(composition.plan.lora_ranks.values()) == {1}


def test_different_bases_and_bad_weights_are_refused(toy, make_adapter, tmp_path):
    path, _ = make_adapter("lora")
    foreign_model = copy.deepcopy(toy)
    with torch.no_grad():
        foreign_model.intro.bias.add_(1.0)
    apply_plan(foreign_model, make_plan(foreign_model, "lora"))
    foreign = save_adapter(tmp_path / "foreign.safetensors", foreign_model)
    with pytest.raises(AdapterError, match="foreign.safetensors: trained on a different base"):
        read_sources([path, foreign], [0.5, 0.5])
    with pytest.raises(AdapterError, match="2 given for 1 adapters"):
        read_sources([path], [0.5, 0.5])
    with pytest.raises(AdapterError, match="not a finite number"):
        read_sources([path], [float("nan")])


def test_merge_into_model_leaves_a_plain_model(toy, make_adapter):
    path, _ = make_adapter("codora")
    merged = merge_into_model(copy.deepcopy(toy), read_sources([path], [1.0]), [1.0])
    assert not adapted_layers(merged)
    assert [n for n, _ in merged.named_parameters()] == [n for n, _ in toy.named_parameters()]
    model = load_adapter(copy.deepcopy(toy), path)
    set_adapters(model, "default", [1.0])
    assert torch.equal(merge_and_unload(model).out.weight, merged.out.weight)

"""Several named adapters on one model: wrapping, training gradients, composition by weight
(per batch and per image), deletion and merging."""
import copy

import pytest
import torch

from trainer.adapters import (AdapterError, BudgetConfig, active_adapters, adapted_layers,
                              adapter_weights, apply_plan, delete_adapter, load_adapter,
                              make_plan, merge_and_unload, model_fingerprint, set_adapters,
                              trainable_parameters)
from trainer.adapters.merging import merge_into_model, read_sources

ATOL = 1e-5


def _colora(toy, depth_scores, budget=0.3):
    config = BudgetConfig(budget=budget, seed=5)
    plan = make_plan(toy, "colora", config, scores=depth_scores(toy))
    apply_plan(toy, plan, config)
    return plan


def test_wrapping_keeps_outputs_and_freezes_the_rest(toy, depth_scores, images):
    lq, _ = images
    expected = toy(lq)
    plan = _colora(toy, depth_scores)
    assert set(plan.lora_ranks) <= set(adapted_layers(toy))
    assert torch.allclose(toy(lq), expected, atol=1e-6)
    assert sum(p.numel() for p in trainable_parameters(toy)) == plan.tuned_count
    assert active_adapters(toy) == ("default",)


def test_gradients_reach_only_the_adapter(toy, depth_scores, images):
    lq, gt = images
    base = copy.deepcopy(toy)
    _colora(toy, depth_scores)
    (toy(lq) - gt).abs().mean().backward()
    for name, param in toy.named_parameters():
        in_adapter = ".factors.default." in name or ".tuned.default." in name
        assert (param.grad is not None) == in_adapter, name
    assert model_fingerprint(toy) == model_fingerprint(base)


def _plain(template, state):
    model = copy.deepcopy(template)
    model.load_state_dict(state)
    return model


def test_merge_and_unload_gives_plain_equivalent_model(make_adapter, images):
    lq, _ = images
    _, model = make_adapter("colora")
    adapted = model(lq).detach()
    merged = merge_and_unload(model)
    names = [n for n, _ in merged.named_parameters()]
    assert not adapted_layers(merged) and not any("base_layer" in n for n in names)
    assert active_adapters(merged) == ()
    assert torch.allclose(merged(lq), adapted, atol=ATOL)


def _three(toy, make_adapter):
    """The toy base carrying colora, dora and decoder adapters a, b, c (different layer sets
    and ranks)."""
    model = copy.deepcopy(toy)
    paths = [make_adapter(method, seed=i)[0] for i, method in enumerate(("colora", "dora", "decoder"))]
    for name, path in zip("abc", paths):
        load_adapter(model, path, name)
    return model, paths


def test_composition_equals_merging_each_with_its_weight(toy, make_adapter, images):
    lq, _ = images
    model, paths = _three(toy, make_adapter)
    weights = [0.6, 0.3, -0.2]
    set_adapters(model, ["a", "b", "c"], weights)
    assert active_adapters(model) == ("a", "b", "c")
    with torch.no_grad():
        composed = model(lq)
        reference = merge_into_model(copy.deepcopy(toy), read_sources(paths, weights), weights)(lq)
    assert torch.allclose(composed, reference, atol=ATOL)
    # the reference folded each adapter by hand: W0 + sum_i w_i (W_i - W0) on merged copies
    by_hand = {n: p.detach().clone() for n, p in toy.named_parameters()}
    for path, weight in zip(paths, weights):
        single = merge_and_unload(load_adapter(copy.deepcopy(toy), path))
        for name, param in single.named_parameters():
            by_hand[name] += weight * (param.detach() - dict(toy.named_parameters())[name].detach())
    with torch.no_grad():
        assert torch.allclose(_plain(toy, by_hand)(lq), composed, atol=ATOL)


@pytest.mark.parametrize("grad", [False, True])
def test_per_image_weights_equal_each_image_alone(toy, make_adapter, grad):
    model, _ = _three(toy, make_adapter)
    names = ["a", "b", "c"]
    rows = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.2], [0.0, 0.0, 1.0], [0.5, 0.5, 0.2],
                         [-0.3, 1.2, 0.0]])
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    set_adapters(model, names, rows)
    assert adapter_weights(model).shape == (5, 3)
    with torch.set_grad_enabled(grad):
        batched = model(x)
        for i in range(5):
            set_adapters(model, names, rows[i].tolist())
            alone = model(x[i:i + 1])
            assert torch.allclose(batched[i:i + 1], alone, atol=ATOL), i


def test_per_image_weights_of_full_adapters_group_images(toy, make_adapter):
    """full tunes block-owned scales (not conv/linear): those modules run per weight row."""
    model = copy.deepcopy(toy)
    for name, seed in (("a", 0), ("b", 1)):
        load_adapter(model, make_adapter("full", seed=seed)[0], name)
    rows = torch.tensor([[1.0, 0.0], [0.25, 0.75], [1.0, 0.0]])
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    set_adapters(model, ["a", "b"], rows)
    with torch.no_grad():
        batched = model(x)
        for i in range(3):
            set_adapters(model, ["a", "b"], rows[i])
            assert torch.allclose(batched[i], model(x[i:i + 1])[0], atol=ATOL)
    set_adapters(model, ["a", "b"], rows[:2])
    with pytest.raises(ValueError, match="2 rows"):
        model(x)


def test_delete_adapter_and_active_set(toy, make_adapter, images):
    lq, _ = images
    model, paths = _three(toy, make_adapter)
    set_adapters(model, ["a", "c"], [0.5, 0.5])
    delete_adapter(model, "a")
    assert active_adapters(model) == ("c",) and adapter_weights(model).tolist() == [0.5]
    delete_adapter(model, "c")
    set_adapters(model, "b")
    only_b = load_adapter(copy.deepcopy(toy), paths[1])
    with torch.no_grad():
        assert torch.allclose(model(lq), only_b(lq), atol=ATOL)
    delete_adapter(model, "b")
    assert not adapted_layers(model) and active_adapters(model) == ()
    assert model_fingerprint(model) == model_fingerprint(toy)
    with torch.no_grad():
        assert torch.allclose(model(lq), toy(lq), atol=1e-6)


def test_bad_choices_are_one_line_errors(toy, make_adapter):
    model, paths = _three(toy, make_adapter)
    cases = [
        (lambda: set_adapters(model, ["a", "b"], [1.0]), "1 value.*2 adapter"),
        (lambda: set_adapters(model, ["a", "b"], torch.ones(4, 3)), "4x3 array.*2 adapter"),
        (lambda: set_adapters(model, ["a", "b"], [1.0, float("nan")]), "nan for adapter 'b'"),
        (lambda: set_adapters(model, ["a"], [float("inf")]), "inf for adapter 'a'"),
        (lambda: set_adapters(model, ["a", "z"]), "'z' is not loaded"),
        (lambda: set_adapters(model, ["a", "a"]), "twice"),
        (lambda: load_adapter(model, paths[0], "b"), "named 'b' is already loaded"),
        (lambda: load_adapter(model, paths[0], "x.y"), "without '.'"),
        (lambda: delete_adapter(model, "z"), "'z' is not loaded"),
        (lambda: set_adapters(copy.deepcopy(toy), "a"), "carries no adapter"),
    ]
    for call, message in cases:
        with pytest.raises(AdapterError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
    set_adapters(model, ["a", "b"], torch.ones(2, 2))
    with pytest.raises(ValueError, match="per-image"):
        merge_and_unload(model)


def test_inference_reuses_compositions_until_a_parameter_changes(toy, make_adapter, images):
    lq, _ = images
    model, _ = _three(toy, make_adapter)
    set_adapters(model, ["a", "b"], [0.5, 0.5])
    with torch.no_grad():
        before = model(lq)
        layer = adapted_layers(model)["out"]
        layer.factors["a"].lora_B.add_(1.0)  # an in-place change invalidates the composition
        changed = model(lq)
        with torch.enable_grad():
            recomputed = model(lq).detach()  # autograd on: never cached
        assert not torch.allclose(before, changed, atol=1e-3)
        assert torch.allclose(changed, recomputed, atol=1e-6)
        for step in range(5):  # new weights every batch: one composition kept per layer
            set_adapters(model, ["a", "b"], [0.1 * step, 1.0])
            model(lq)
        assert sum(key[0] == "composed" for key in layer._cache) == 1

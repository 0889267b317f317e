import copy

import pytest
import torch

from trainer.colora import (AdapterConfig, AdapterError, apply_plan, load_adapter, lora_layers,
                            make_plan, merge_and_unload, model_fingerprint, read_adapter,
                            save_adapter, trainable_parameters)


def _adapted(toy, depth_scores, budget=0.3):
    base = copy.deepcopy(toy)
    plan = make_plan(toy, AdapterConfig(budget=budget), scores=depth_scores(toy))
    fingerprint = model_fingerprint(toy)
    apply_plan(toy, plan, seed=5)
    return base, plan, fingerprint


def _perturb(model):
    """Stand-in for training: move every trainable tensor."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in trainable_parameters(model):
            param.add_(0.1 * torch.randn(param.shape, generator=generator))


def test_wrapping_keeps_outputs_and_freezes_the_rest(toy, depth_scores, images):
    lq, _ = images
    expected = toy(lq)
    base, plan, _ = _adapted(toy, depth_scores)
    assert set(lora_layers(toy)) == set(plan.lora_ranks)
    assert torch.equal(toy(lq), expected)
    trainable = sum(p.numel() for p in trainable_parameters(toy))
    assert trainable == plan.tuned_count


def test_gradients_reach_only_tuned_parameters(toy, depth_scores, images):
    lq, gt = images
    _, plan, _ = _adapted(toy, depth_scores)
    (toy(lq) - gt).abs().mean().backward()
    tuned = {f"{n}.lora_A" for n in plan.lora_ranks} | {f"{n}.lora_B" for n in plan.lora_ranks}
    tuned |= set(plan.tuned_parameters)
    for name, param in toy.named_parameters():
        plain = name.replace(".base_layer", "")
        if plain in tuned:
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    assert any(".lora_" in n for n in tuned) and plan.tuned_parameters


def test_merge_and_unload_gives_plain_equivalent_model(toy, depth_scores, images):
    lq, _ = images
    _adapted(toy, depth_scores)
    _perturb(toy)
    adapted = toy(lq).detach()
    names = None
    merged = merge_and_unload(toy)
    names = [n for n, _ in merged.named_parameters()]
    assert not lora_layers(merged) and not any("base_layer" in n for n in names)
    assert torch.allclose(merged(lq), adapted, atol=1e-5)


def test_adapter_round_trip_through_safetensors(toy, depth_scores, images, tmp_path):
    lq, _ = images
    base, plan, fingerprint = _adapted(toy, depth_scores)
    _perturb(toy)
    adapted = toy(lq).detach()
    path = save_adapter(tmp_path / "a.safetensors", toy, plan, fingerprint, info={"task": "blur"})
    tensors, meta = read_adapter(path)
    assert meta["info"]["task"] == "blur" and meta["plan"]["method"] == "colora"
    assert set(k.split("/")[0] for k in tensors) == {"lora_A", "lora_B", "tuned"}
    fresh = copy.deepcopy(base)
    assert load_adapter(fresh, path) is fresh
    assert torch.equal(fresh(lq), adapted)
    assert not list(tmp_path.glob(".*.partial"))


def test_adapter_files_are_0666_minus_the_umask(toy, depth_scores, tmp_path):
    import os
    import stat

    _, plan, fingerprint = _adapted(toy, depth_scores)
    old = os.umask(0o022)
    try:
        path = save_adapter(tmp_path / "a.safetensors", toy, plan, fingerprint)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # safetensors' save_file gave 0600


def test_wrong_base_model_is_refused_untouched(toy, depth_scores, tmp_path):
    base, plan, fingerprint = _adapted(toy, depth_scores)
    path = save_adapter(tmp_path / "a.safetensors", toy, plan, fingerprint)
    other = copy.deepcopy(base)
    with torch.no_grad():
        other.out.bias.add_(1e-3)
    before = model_fingerprint(other)
    with pytest.raises(AdapterError, match="different base model") as caught:
        load_adapter(other, path)
    assert "\n" not in str(caught.value)
    assert model_fingerprint(other) == before and not lora_layers(other)


def test_unreadable_adapter_files(tmp_path, toy):
    with pytest.raises(AdapterError, match="no such adapter"):
        load_adapter(toy, tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(AdapterError, match="junk.safetensors"):
        load_adapter(toy, junk)


def test_damaged_metadata_is_an_adapter_error(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "damaged.safetensors"
    save_file({"lora_A/x": torch.zeros(1, 1)}, str(path),
              metadata={"format": "colora-adapter", "plan": "{", "info": "{}", "alpha": "null"})
    with pytest.raises(AdapterError, match="damaged"):
        read_adapter(path)

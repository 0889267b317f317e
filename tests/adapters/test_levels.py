"""Level-conditioned adapters: p(c) = p0 + (d0 + (c - centre) d1), per-image c exact, files, bad
input."""
import copy

import numpy as np
import pytest
import torch

from trainer.adapters import (AdapterError, LevelScale, adapted_layers, apply_plan, load_adapter,
                              make_plan, method_config, save_adapter, set_level,
                              trainable_parameters)
from degrade.errors import ConfigError
from trainer.adapters.levels import INFO_KEY, level_slot, parse_value, parse_values

from .conftest import perturb

LEVEL_METHODS = ("levels", "levels-full")


def level_copy(toy, method, scores, seed=0, centre=0.0):
    model = copy.deepcopy(toy)
    config = method_config(method, {"budget": 0.3, "seed": seed, "centre": centre}, strict=False)
    apply_plan(model, make_plan(model, method, config, scores(model)), config)
    perturb(model, seed=100 + seed)
    return model.eval()


def reference_parameters(model, c, centre=0.0):
    """p0 + d0 + (c - centre) d1 computed by hand from each layer's two slots (independent of
    the layers' composition code): constant term B0 A0 (or v0 - p0), level term B1 A1 (or
    v1 - p0)."""
    values = {}
    for name, layer in adapted_layers(model).items():
        for slot, weight in (("default", 1.0), (level_slot("default"), c - centre)):
            for param, change in layer.delta(slot).items():
                key = f"{name}.{param}"
                base = layer.base_parameter(param).detach()
                values[key] = values.get(key, base) + weight * change.detach()
    return values


def run_with(model, parameters, x):
    """The plain model with `parameters` written in (the reference forward)."""
    from trainer.adapters import merge_and_unload
    plain = merge_and_unload(copy.deepcopy(model))
    state = plain.state_dict()
    state.update(parameters)
    plain.load_state_dict(state)
    with torch.no_grad():
        return plain(x)


@pytest.mark.parametrize("method", LEVEL_METHODS)
@pytest.mark.parametrize("centre", (0.0, 0.9))
def test_batch_level_matches_hand_composed_parameters(toy, depth_scores, images, method, centre):
    model = level_copy(toy, method, depth_scores, centre=centre)
    lq, _ = images
    for c in (0.0, 0.4, 2.5):
        set_level(model, c)
        with torch.no_grad():
            out = model(lq)
        expected = run_with(model, reference_parameters(model, c, centre), lq)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", LEVEL_METHODS)
def test_per_image_levels_equal_a_loop_over_images(toy, depth_scores, method):
    model = level_copy(toy, method, depth_scores, centre=0.9)
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(4, 3, 8, 8, generator=generator)
    levels = torch.tensor([0.0, 0.3, 1.0, 2.0])
    set_level(model, levels)
    with torch.no_grad():
        batched = model(x)
    for i in range(4):
        set_level(model, float(levels[i]))
        with torch.no_grad():
            alone = model(x[i:i + 1])
        torch.testing.assert_close(batched[i:i + 1], alone, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(batched[0], batched[0] * 0) and not torch.allclose(
        batched[1], model(x)[1]), "the levels must change the output"


def test_level_term_starts_at_zero_and_both_terms_train(toy, depth_scores, images):
    model = copy.deepcopy(toy)
    config = method_config("levels", {"budget": 0.3})
    apply_plan(model, make_plan(model, "levels", config, depth_scores(model)), config)
    set_level(model, 0.7)
    lq, gt = images
    with torch.no_grad():
        torch.testing.assert_close(model(lq), toy(lq))  # B = 0, vectors at the base
    ((model(lq) - gt) ** 2).mean().backward()
    slots = {level_slot("default"): 0, "default": 0}
    for layer in adapted_layers(model).values():
        for slot in slots:
            if slot in layer.factors:
                slots[slot] += int(layer.factors[slot].lora_B.grad.abs().sum() > 0)
    assert all(count > 0 for count in slots.values()), slots


def test_budget_counts_both_terms(toy, depth_scores):
    config = method_config("levels", {"budget": 0.3})
    levels = make_plan(toy, "levels", config, depth_scores(toy))
    half = make_plan(toy, "colora", method_config("colora", {"budget": 0.15}), depth_scores(toy))
    assert levels.lora_ranks == half.lora_ranks
    assert levels.tuned_count == 2 * half.tuned_count
    model = copy.deepcopy(toy)
    apply_plan(model, levels, config)
    assert sum(p.numel() for p in trainable_parameters(model)) == levels.tuned_count
    full = make_plan(toy, "levels-full")
    assert full.tuned_count == 2 * sum(p.numel() for p in toy.parameters())


@pytest.mark.parametrize("method", LEVEL_METHODS)
def test_file_round_trip_keeps_both_terms(toy, depth_scores, images, tmp_path, method):
    model = level_copy(toy, method, depth_scores, centre=1.5)
    scale = LevelScale.for_op("gaussian_noise", [15, 35, 55, 75])
    path = save_adapter(tmp_path / "a.safetensors", model, info={INFO_KEY: scale.to_dict()})
    loaded = load_adapter(copy.deepcopy(toy), path).eval()
    lq, _ = images
    for c in (0.5, 2.0):
        set_level(model, c)
        set_level(loaded, c)
        with torch.no_grad():
            torch.testing.assert_close(loaded(lq), model(lq))


def test_centre_of_the_trained_range_and_old_files_without_one():
    from trainer.adapters.levels import centred, level_centre

    scale = LevelScale.for_op("gaussian_noise", [15, 35, 55, 75])  # c 0.5..2.5
    assert scale.centre == pytest.approx(1.5)
    assert LevelScale.for_op("jpeg", [10, 30, 50, 80]).centre == pytest.approx((90 / 70 + 20 / 70) / 2)
    config = centred(method_config("levels", {"budget": 0.2}), scale)
    assert config.centre == pytest.approx(1.5) and config.budget == 0.2
    assert method_config("levels-full", config.to_dict() | {"budget": None}, strict=False).centre == 1.5
    assert level_centre(type("Record", (), {"config": method_config("colora")})()) == 0.0
    with pytest.raises(ValueError, match="centre"):
        method_config("levels", {"centre": float("nan")})


def test_running_without_a_level_is_refused(toy, depth_scores, images):
    model = level_copy(toy, "levels", depth_scores)
    with pytest.raises(AdapterError, match="level-conditioned: set its level"):
        model(images[0])


def test_per_image_levels_must_match_the_batch(toy, depth_scores, images):
    model = level_copy(toy, "levels", depth_scores)
    set_level(model, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="rows"):
        model(images[0])


def test_scale_maps_natural_units_through_the_ops_severity():
    noise = LevelScale.for_op("gaussian_noise", [15, 75])
    assert noise.level(15) == pytest.approx(0.5) and noise.level(75) == pytest.approx(2.5)
    assert noise.natural(noise.level(42)) == pytest.approx(42)
    jpeg = LevelScale.for_op("jpeg", [10, 80])
    assert jpeg.level(30) == pytest.approx(1.0) and jpeg.level(100) == pytest.approx(0.0)
    assert LevelScale.from_dict(noise.to_dict()) == noise


def test_values_with_units_and_bad_values():
    assert parse_value("25", "gaussian_noise") == 25.0
    assert parse_value("25sigma", "gaussian_noise") == 25.0
    assert parse_value("30quality", "jpeg") == 30.0
    with pytest.raises(ConfigError, match="unknown unit 'dB'"):
        parse_value("25dB", "gaussian_noise")
    with pytest.raises(ConfigError, match="not a number"):
        parse_value("abc", "jpeg")
    with pytest.raises(ConfigError, match="integer in"):
        parse_value("150", "jpeg")
    with pytest.raises(ConfigError, match="at least two different levels"):
        parse_values("15", "gaussian_noise")
    assert np.allclose(parse_values("15,35", "gaussian_noise"), [15, 35])


def test_merge_and_export_refuse_level_adapters(toy, depth_scores, tmp_path):
    from trainer.adapters.merging import read_sources

    model = level_copy(toy, "levels", depth_scores)
    path = save_adapter(tmp_path / "l.safetensors", model,
                        info={INFO_KEY: LevelScale.for_op("jpeg", [10, 80]).to_dict()})
    with pytest.raises(AdapterError, match="depend on the level c; merging or composing does not"):
        read_sources([path], [1.0])

"""Official checkpoint layout: the key list and shapes of the official NAFNet and Restormer
architectures (dumped once from the official code into data/official_state_dicts.json) load
strictly into our presets through the documented mapping, and map back unchanged."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.models import count_parameters, create_model
from trainer.models.official import (OfficialWeightsError, find_matching_presets,
                                     load_official_state_dict,
                                     load_official_weights, read_official_checkpoint,
                                     remap_official_keys, to_official_state_dict,
                                     unwrap_state_dict)

FIXTURE = json.loads((Path(__file__).parent / "data" / "official_state_dicts.json").read_text())
OFFICIAL = FIXTURE["presets"]


def random_official_state_dict(preset: str, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator)
            for key, shape in OFFICIAL[preset]["state_dict"].items()}


@pytest.mark.parametrize("preset", list(OFFICIAL))
def test_our_preset_exports_exactly_the_official_keys_and_shapes(preset):
    with torch.device("meta"):
        model = create_model(preset)
    exported = {k: list(v.shape) for k, v in to_official_state_dict(model).items()}
    assert list(exported.items()) == list(OFFICIAL[preset]["state_dict"].items())
    assert count_parameters(model) == OFFICIAL[preset]["parameters"]


@pytest.mark.parametrize("preset", ["nafnet-sidd-w32", "restormer", "nafnet-tiny",
                                    "restormer-tiny"])
def test_official_state_dict_loads_strictly_and_round_trips(preset):
    official = random_official_state_dict(preset)
    model = load_official_state_dict(create_model(preset), {"params": official})
    back = to_official_state_dict(model)
    assert back.keys() == official.keys()
    assert all(torch.equal(back[k], official[k]) for k in official)


def test_mapping_moves_values_where_the_docs_say():
    nafnet = remap_official_keys("nafnet", random_official_state_dict("nafnet-tiny"))
    official = random_official_state_dict("nafnet-tiny")
    assert nafnet["encoders.0.0.beta"].shape == (8,)
    assert torch.equal(nafnet["encoders.0.0.beta"], official["encoders.0.0.beta"].flatten())
    restormer_official = random_official_state_dict("restormer-tiny")
    restormer = remap_official_keys("restormer", restormer_official)
    assert torch.equal(restormer["latent.0.norm1.weight"],
                       restormer_official["latent.0.norm1.body.weight"])
    assert restormer["latent.0.attn.temperature"].shape == (8,)


def test_nafnet_with_official_weights_matches_an_independent_block_computation():
    # The official layout's beta (1, C, 1, 1) applied by broadcasting, as the official code does.
    official = {k: v.double() * 0.2 for k, v in random_official_state_dict("nafnet-tiny").items()}
    model = load_official_state_dict(create_model("nafnet-tiny").double(), official)
    block = model.middle_blks[0]
    channels = 128  # the middle level of nafnet-tiny: width 8 * 2**4
    x = torch.randn(1, channels, 3, 5, dtype=torch.float64)
    p = {k[len("middle_blks.0."):]: v for k, v in official.items() if k.startswith("middle_blks.0.")}

    def norm(t, prefix):
        mean = t.mean(1, keepdim=True)
        var = ((t - mean) ** 2).mean(1, keepdim=True)
        return ((t - mean) / torch.sqrt(var + 1e-6) * p[prefix + ".weight"].view(1, -1, 1, 1)
                + p[prefix + ".bias"].view(1, -1, 1, 1))

    conv = torch.nn.functional.conv2d
    t = conv(norm(x, "norm1"), p["conv1.weight"], p["conv1.bias"])
    t = conv(t, p["conv2.weight"], p["conv2.bias"], padding=1, groups=t.shape[1])
    t = t[:, :channels] * t[:, channels:]
    t = t * conv(t.mean((2, 3), keepdim=True), p["sca.1.weight"], p["sca.1.bias"])
    y = x + conv(t, p["conv3.weight"], p["conv3.bias"]) * p["beta"]
    t = conv(norm(y, "norm2"), p["conv4.weight"], p["conv4.bias"])
    expected = y + conv(t[:, :channels] * t[:, channels:], p["conv5.weight"], p["conv5.bias"]) * p["gamma"]
    np.testing.assert_allclose(block(x).detach().numpy(), expected.numpy(), rtol=1e-10, atol=1e-10)


def test_wrappers_and_dataparallel_prefix_are_unwrapped():
    state = random_official_state_dict("nafnet-tiny")
    prefixed = {f"module.{k}": v for k, v in state.items()}
    for checkpoint in (state, {"params": state}, {"params_ema": state}, {"state_dict": prefixed},
                       {"params": state, "params_ema": {}}):
        assert unwrap_state_dict(checkpoint).keys() == state.keys()
    with pytest.raises(OfficialWeightsError, match="no 'params_ema' entry"):
        unwrap_state_dict({"params": state}, key="params_ema")


def test_reading_a_file_uses_weights_only_and_names_the_file(tmp_path):
    path = tmp_path / "NAFNet-tiny.pth"
    torch.save({"params": random_official_state_dict("nafnet-tiny")}, path)
    model = load_official_weights(create_model("nafnet-tiny"), path)
    assert torch.equal(model.intro.weight, read_official_checkpoint(path)["intro.weight"])

    unsafe = tmp_path / "unsafe.pth"  # an arbitrary pickled object: refused by weights_only
    torch.save({"params": {"intro.weight": Fraction(1, 3)}}, unsafe)
    with pytest.raises(OfficialWeightsError, match="unsafe.pth: cannot be read"):
        read_official_checkpoint(unsafe)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(OfficialWeightsError, match="garbage.pth"):
        read_official_checkpoint(garbage)


def test_weights_of_another_preset_fail_with_a_clear_message(tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save({"params": random_official_state_dict("nafnet-tiny")}, path)
    with pytest.raises(OfficialWeightsError,
                       match=r"tiny.pth: weights do not fit nafnet-small: .*missing key"):
        load_official_weights(create_model("nafnet-small"), path)
    with pytest.raises(OfficialWeightsError, match=r"shape mismatch.*intro.weight \[8, 3, 3, 3\]"):
        load_official_state_dict(create_model("nafnet-tiny", width=16),
                                 random_official_state_dict("nafnet-tiny"))
    with pytest.raises(OfficialWeightsError, match="unexpected key"):
        load_official_state_dict(create_model("restormer-tiny", layernorm="bias_free"),
                                 random_official_state_dict("restormer-tiny"))


def test_each_official_layout_matches_exactly_its_preset():
    for preset, entry in OFFICIAL.items():
        shapes_only = {k: torch.empty(shape, device="meta") for k, shape in entry["state_dict"].items()}
        assert find_matching_presets(shapes_only) == [preset]
    assert find_matching_presets({"intro.weight": torch.empty(8, 3, 3, 3)}) == []

"""`trainer export`: files other code loads. Official checkpoints are checked against the
official architectures' own keys, shapes and constructor arguments (the fixture)."""
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from trainer.checkpoint import save_model
from trainer.cli import main
from trainer.models import create_model
from trainer.models.official import load_official_weights, official_constructor

FIXTURE = json.loads((Path(__file__).parent / "data" / "official_state_dicts.json").read_text())
OFFICIAL = FIXTURE["presets"]


@pytest.mark.parametrize("preset", list(OFFICIAL))
def test_constructor_arguments_are_the_official_ones(preset):
    with torch.device("meta"):
        model = create_model(preset)
    expected = {"type": OFFICIAL[preset]["class"], **OFFICIAL[preset]["constructor"]}
    assert official_constructor(model) == expected


@pytest.mark.parametrize("preset", ["nafnet-tiny", "restormer-tiny"])
def test_export_official_writes_what_the_official_code_loads(tmp_path, preset):
    torch.manual_seed(0)
    model = create_model(preset)
    for parameter in model.parameters():  # fresh NAFNets have zero beta/gamma: make them count
        parameter.data.normal_(0, 0.1)
    save_model(tmp_path / "model.safetensors", model, {"preset": preset})
    result = CliRunner().invoke(main, ["export", str(tmp_path / "model.safetensors"),
                                       "--official", str(tmp_path / "official.pth")])
    assert result.exit_code == 0, result.output
    assert OFFICIAL[preset]["class"] in result.output
    checkpoint = torch.load(tmp_path / "official.pth", weights_only=True)
    assert checkpoint["network_g"]["type"] == OFFICIAL[preset]["class"]
    shapes = {k: list(v.shape) for k, v in checkpoint["params"].items()}
    assert list(shapes.items()) == list(OFFICIAL[preset]["state_dict"].items())
    again = load_official_weights(create_model(preset), tmp_path / "official.pth")
    image = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(again.eval()(image), model.eval()(image))
    assert oct((tmp_path / "official.pth").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_export_refuses_to_overwrite_and_explains_a_model_it_cannot_express(tmp_path):
    model = create_model("nafnet-tiny", dw_expand=4)
    save_model(tmp_path / "wide.safetensors", model, {"preset": "nafnet-tiny"})
    result = CliRunner().invoke(main, ["export", str(tmp_path / "wide.safetensors"),
                                       "--official", str(tmp_path / "out.pth")])
    assert result.exit_code == 1 and "fixes dw_expand and ffn_expand at 2" in result.output
    assert not (tmp_path / "out.pth").exists()
    (tmp_path / "out.pth").write_bytes(b"mine")
    save_model(tmp_path / "ok.safetensors", create_model("nafnet-tiny"), {"preset": "nafnet-tiny"})
    result = CliRunner().invoke(main, ["export", str(tmp_path / "ok.safetensors"),
                                       "--official", str(tmp_path / "out.pth")])
    assert result.exit_code == 1 and "already exists" in result.output
    assert (tmp_path / "out.pth").read_bytes() == b"mine"
    result = CliRunner().invoke(main, ["export", str(tmp_path / "ok.safetensors")])
    assert result.exit_code == 2 and "--official" in result.output

"""`trainer models`: lists every preset with its sizes, shows one preset's blocks, JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from click.testing import CliRunner

from trainer.commands.models import models
from trainer.models import list_presets


def test_lists_every_preset_with_exact_parameter_counts():
    result = CliRunner().invoke(models, [])
    assert result.exit_code == 0, result.output
    for name in list_presets():
        assert name in result.output
    line = next(row for row in result.output.splitlines() if row.startswith("nafnet-sidd-w32 "))
    assert "29,159,715" in line and "16/12/8" in line and "4.29M/22.22M/1.25M" in line


def test_one_preset_shows_its_indexed_blocks():
    result = CliRunner().invoke(models, ["nafnet-sidd-w32"])
    assert result.exit_code == 0, result.output
    block_rows = [row.split() for row in result.output.splitlines()[3:]]
    assert [int(row[0]) for row in block_rows] == list(range(36))
    assert block_rows[16][1] == "middle" and block_rows[16][3] == "middle_blks.0"


def test_json_output_matches_the_table():
    result = CliRunner().invoke(models, ["restormer", "--json"])
    payload = json.loads(result.output)
    assert payload["parameters"] == 26_126_644
    assert payload["block_counts"] == {"encoder": 16, "middle": 8, "decoder": 20}
    assert len(payload["blocks"]) == 44 and payload["config"]["arch"] == "restormer"
    everything = json.loads(CliRunner().invoke(models, ["--json"]).output)
    assert [entry["name"] for entry in everything] == list_presets()


def test_unknown_preset_is_a_usage_error():
    result = CliRunner().invoke(models, ["nafnet-huge"])
    assert result.exit_code == 2
    assert "unknown model preset 'nafnet-huge'" in result.output


def test_command_module_does_not_import_torch():
    code = "import sys, trainer.commands.models; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def write_official_tiny(path, seed=0):
    fixture = Path(__file__).parent / "data" / "official_state_dicts.json"
    shapes = json.loads(fixture.read_text())["presets"]["nafnet-tiny"]["state_dict"]
    generator = torch.Generator().manual_seed(seed)
    state = {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}
    torch.save({"params": state}, path)
    return state


def test_import_official_detects_the_preset_and_writes_a_loadable_model_file(tmp_path):
    from trainer.checkpoint import load_model

    official = write_official_tiny(tmp_path / "NAFNet-tiny.pth")
    out = tmp_path / "converted" / "tiny.safetensors"
    result = CliRunner().invoke(models, ["--import-official", str(tmp_path / "NAFNet-tiny.pth"),
                                         "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("nafnet-tiny: 290,715 parameters")
    model, metadata = load_model(out)
    assert model.config["width"] == 8 and metadata["preset"] == "nafnet-tiny"
    assert torch.equal(model.encoders[0][0].beta, official["encoders.0.0.beta"].flatten())


def test_import_official_into_the_wrong_preset_fails_without_writing(tmp_path):
    write_official_tiny(tmp_path / "tiny.pth")
    out = tmp_path / "small.safetensors"
    runner = CliRunner()
    result = runner.invoke(models, ["nafnet-small", "--import-official",
                                    str(tmp_path / "tiny.pth"), "--out", str(out)])
    assert result.exit_code == 1
    assert "tiny.pth: weights do not fit nafnet-small" in result.output
    assert not out.exists()
    result = runner.invoke(models, ["--import-official", str(tmp_path / "tiny.pth")])
    assert result.exit_code == 2 and "go together" in result.output
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    result = runner.invoke(models, ["--import-official", str(bad), "--out", str(out)])
    assert result.exit_code == 1 and "bad.pth: cannot be read" in result.output

"""`trainer models`: lists every preset with its sizes, shows one preset's blocks, JSON."""
from __future__ import annotations

import json
import subprocess
import sys

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

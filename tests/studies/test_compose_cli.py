"""bench/compose.py end to end at its `test` configuration on a generated data folder (with an
untrained estimator), and its one-line errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "compose.py"


@pytest.fixture(scope="module")
def compose(load_module):
    return load_module(SCRIPT, "compose_script").main


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    from degrade.registry import CANONICAL_ORDER
    from trainer.estimator.files import save_estimator
    from trainer.estimator.model import DegradationEstimator

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("est") / "estimator.safetensors"
    return save_estimator(path, DegradationEstimator(list(CANONICAL_ORDER)),
                          {"training": {"patch": 32}})


def test_test_configuration_end_to_end(compose, data_folder, estimator, tmp_path):
    out, report = tmp_path / "run", tmp_path / "docs" / "composition.md"
    result = CliRunner().invoke(compose, ["--data", str(data_folder), "--estimator",
                                          str(estimator), "--config", "test", "--out", str(out),
                                          "--report", str(report)])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["adapters"] == ["blur", "jpeg", "noise", "rain"]
    assert len(results["sets"]) == 10
    arms = results["sets"][0]["arms"]
    for arm in ("base", "single:blur", "best-single-oracle", "uniform", "cascade", "oracle",
                "auto-top1", "auto-top2", "auto-all", "colora-mix", "full-mix"):
        assert len(arms[arm]) == 2 and all(math.isfinite(v) for v in arms[arm])
    # the per-image oracle-best single is the best of the singles on every image
    singles = [arms[f"single:{n}"] for n in results["adapters"]]
    assert arms["best-single-oracle"] == [max(col) for col in zip(*singles)]
    text = report.read_text()
    assert "## Targets" in text and "within 0.3 dB of oracle weights" in text
    assert (report.parent / "composition" / "arms.png").is_file()
    report.unlink()
    again = CliRunner().invoke(compose, ["--report-only", "--out", str(out), "--config", "test",
                                         "--report", str(report)])
    assert again.exit_code == 0, again.output
    assert report.read_text() == text


def test_missing_inputs_are_one_line_usage_errors(compose, estimator, tmp_path):
    result = CliRunner().invoke(compose, ["--data", str(tmp_path / "absent"), "--estimator",
                                          str(estimator), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(compose, ["--data", str(tmp_path)])
    assert result.exit_code == 2 and "--estimator" in result.output

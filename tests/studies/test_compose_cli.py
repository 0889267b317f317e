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


def test_test_configuration_end_to_end(compose, data_folder, untrained_estimator, tmp_path):
    out, report = tmp_path / "run", tmp_path / "docs" / "composition.md"
    result = CliRunner().invoke(compose, ["--data", str(data_folder), "--estimator",
                                          str(untrained_estimator), "--config", "test",
                                          "--out", str(out), "--report", str(report)])
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
    # each task adapter alone on its own degradation, on the test images
    assert sorted(results["single_tasks"]) == ["blur", "jpeg", "noise", "rain"]
    assert all(len(v) == 2 for arms in results["single_tasks"].values() for v in arms.values())
    text = report.read_text()
    assert "## Targets" in text and "within 0.3 dB of oracle weights" in text
    assert "## Each task adapter on its own degradation" in text
    assert (report.parent / "composition" / "arms.png").is_file()
    report.unlink()
    again = CliRunner().invoke(compose, ["--report-only", "--out", str(out), "--config", "test",
                                         "--report", str(report)])
    assert again.exit_code == 0, again.output
    assert report.read_text() == text
    # --reuse: nothing trained again, the same models, so the same scores
    rerun = tmp_path / "rerun"
    result = CliRunner().invoke(compose, ["--data", str(data_folder), "--estimator",
                                          str(untrained_estimator), "--config", "test", "--out",
                                          str(rerun), "--work", str(out / "work"), "--reuse",
                                          "--report", str(tmp_path / "rerun.md")])
    assert result.exit_code == 0, result.output
    second = json.loads((rerun / "results.json").read_text())
    assert "model.safetensors" in second["reused"][0] and len(second["reused"]) == 1 + 4 + 2 * 5
    assert second["sets"] == results["sets"]
    assert "Reused from an earlier run" in (tmp_path / "rerun.md").read_text()


def test_missing_inputs_are_one_line_usage_errors(compose, untrained_estimator, tmp_path):
    result = CliRunner().invoke(compose, ["--data", str(tmp_path / "absent"), "--estimator",
                                          str(untrained_estimator), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(compose, ["--data", str(tmp_path)])
    assert result.exit_code == 2 and "--estimator" in result.output


def test_per_image_weights_on_images_of_two_shapes():
    """Whole CBSD68 images come in two orientations: scored in batches by shape, each with its
    own weight row, as one image at a time would be."""
    import numpy as np

    from studies.composition import psnrs_with_weights
    from trainer.adapters import (apply_plan, make_plan, method_config, set_adapters,
                                  trainable_parameters)
    from trainer.metrics import psnr
    from trainer.models import create_model
    from trainer.restore import restore_image

    torch.manual_seed(0)
    model = create_model("nafnet-tiny", enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    config = method_config("lora", {"rank": 2}, strict=False)
    apply_plan(model, make_plan(model, "lora", config, None), config, name="a")
    with torch.no_grad():
        for param in trainable_parameters(model):
            param.add_(0.05 * torch.randn(param.shape))
    model.eval()
    rng = np.random.default_rng(0)
    pairs = [(f"i{k}", rng.integers(0, 256, shape, dtype=np.uint8),
              rng.integers(0, 256, shape, dtype=np.uint8))
             for k, shape in enumerate([(16, 24, 3), (24, 16, 3), (16, 24, 3)])]
    weights = np.array([[0.0], [1.0], [0.5]])
    scores = psnrs_with_weights(model, ["a"], pairs, weights, "cpu")
    for (_, lq, gt), row, score in zip(pairs, weights, scores):
        set_adapters(model, ["a"], row)
        assert score == pytest.approx(psnr(restore_image(model, lq), gt), abs=0.01)


@pytest.mark.parametrize("name", ["cpu", "gpu", "test"])
def test_every_configuration_is_well_formed(name):
    """What can be checked without running it (the gpu one has no GPU here): its model preset,
    its pre-training scale, crops that hold a training patch, a split that CBSD68 holds."""
    from studies.composition import CONFIGS, pretrain_scale
    from trainer.models import create_model

    config = CONFIGS[name]
    assert create_model(config.model) is not None
    assert pretrain_scale(config, config.device).pretrain_steps == config.pretrain_steps
    assert config.patch <= config.train_crop
    assert config.val_images + config.test_images <= 68
    assert config.faig_pairs <= config.train_pairs


def test_single_tasks_table_gives_paired_gains():
    from studies.composition_report import single_tasks_table

    # adapter - base = [2, 1]: mean 1.5, SE std([2, 1]) / sqrt(2) = 0.5; adapter - input = [3, 2]
    table = single_tasks_table({"single_tasks": {"noise": {"input": [20.0, 22.0],
                                                            "base": [21.0, 23.0],
                                                            "adapter": [23.0, 24.0]}}})
    assert "| noise | 2 | 21.00 | 22.00 | 23.50 | +1.50 (0.50) | +2.50 (0.50) |" in table

"""The level study end to end at its test size on a generated data folder, its report (targets
with paired SEs), and its configurations."""
from __future__ import annotations

import dataclasses

import pytest

from studies.levels import CONFIGS, TASKS, LevelStudyConfig, LevelTask, run_study
from studies.levels_report import at_least, paired, render, target_rows, within, write_report


@pytest.fixture(scope="module")
def results(data_folder, tmp_path_factory):
    import torch

    from trainer.estimator.files import save_estimator
    from trainer.estimator.model import DegradationEstimator

    work = tmp_path_factory.mktemp("levels-study")
    torch.manual_seed(0)
    save_estimator(work / "estimator.safetensors", DegradationEstimator(["gaussian_noise", "jpeg"]))
    tasks = (LevelTask("noise", "gaussian_noise", (15, 35), (5, 15, 25, 35)),
             LevelTask("jpeg", "jpeg", (30, 60), (30, 60, 90)))
    config = dataclasses.replace(CONFIGS["test"], timing_size=16)
    return run_study(data_folder, config, work, work / "estimator.safetensors",
                     log=lambda _: None, tasks=tasks), work


def test_every_arm_is_scored_per_image_at_every_level(results):
    document, _ = results
    noise = document["tasks"]["noise"]
    for arm in ("input", "base", "blind", "levels", "levels-full", "levels-est"):
        assert list(noise["psnr"][arm]) == ["5", "15", "25", "35"], arm
        assert all(len(v) == 2 for v in noise["psnr"][arm].values())
    assert list(noise["psnr"]["dedicated"]) == ["15", "35"]
    assert noise["tuned"]["levels-full"] == 2 * noise["model_params"]
    assert noise["psnr"]["input"]["5"][0] > noise["psnr"]["input"]["35"][0]
    cost = noise["inference"]
    assert cost["levels"]["ratio_one"] > 0 and cost["levels-full"]["ratio_batch4"] > 0
    estimates = noise["estimated"]["5"]
    assert all(15 <= value <= 35 for value in estimates)  # clipped to the trained range


def test_report_renders_targets_tables_and_chart(results, tmp_path):
    document, _ = results
    document = {**document, "hardware": {**document["hardware"], "load_average_1min_at_start": 1.0}}
    report = write_report(document, tmp_path / "levels.md", "python bench/levels.py --config test")
    text = report.read_text()
    assert "python bench/levels.py --config test" in text
    assert "levels within 0.15 dB of the dedicated adapters" in text
    assert "estimated c within 0.2 dB" in text and "| 5 (extrapolated) |" in text
    assert (tmp_path / "levels" / "levels-psnr.png").stat().st_size > 5000
    assert text == render(document, "python bench/levels.py --config test", "levels/levels-psnr.png")


def test_verdicts_need_two_standard_errors():
    assert paired([[1.0, 2.0]], [[0.0, 0.0]]) == pytest.approx((1.5, 0.5, 2))
    assert at_least(0.5, 0.1, 0.0) == "met" and at_least(-0.5, 0.1, 0.0) == "missed"
    assert at_least(-0.05, 0.1, 0.0).startswith("not resolved")
    assert within(0.05, 0.05, 0.2) == "met" and within(0.5, 0.1, 0.2) == "missed"
    assert within(0.15, 0.1, 0.2).startswith("not resolved")


def test_target_rows_read_the_right_arms():
    scale = {"zero": 0.0, "full": 30.0, "symbol": "sigma"}
    task = {"task": {"trained": [15], "sweep": [15, 45]}, "scale": scale,
            "tuned": {"levels": 10, "levels-full": 20},
            "psnr": {"levels": {"15": [30.0, 31.0], "45": [25.0, 25.2]},
                     "dedicated": {"15": [30.1, 31.1]},
                     "blind": {"15": [29.0, 30.0], "45": [25.5, 25.9]},
                     "levels-full": {"15": [30.0, 31.0], "45": [25.0, 25.0]},
                     "levels-est": {"15": [30.0, 31.0], "45": [24.0, 24.2]}}}
    rows = target_rows("noise", task)

    def row(start):
        return next(r for r in rows if r[0].startswith("noise: " + start))

    assert "-0.100" in row("levels within 0.15 dB of the dedicated")[1]
    blind = row("levels at or above the blind")
    assert blind[2] == "missed" and "below at 1" in blind[1]
    assert row("the same, only levels the estimator")[1].startswith("estimated - true = +0.000")
    # an estimator trained up to level 3 (sigma 90) covers the sweep: no restricted row
    wide = target_rows("noise", task, estimator_span=3.0)
    assert not any("only levels the estimator" in r[0] for r in wide)


def test_estimator_span_from_the_run_folder(tmp_path):
    from studies.levels import estimator_span

    assert estimator_span(tmp_path / "model.safetensors") == 1.0
    (tmp_path / "run.json").write_text('{"steps": 10}')
    assert estimator_span(tmp_path) == 1.0
    (tmp_path / "run.json").write_text('{"level_span": 3.0}')
    assert estimator_span(tmp_path) == 3.0


def test_configurations_are_well_formed():
    from trainer.models import list_presets
    assert {c.model for c in CONFIGS.values()} <= set(list_presets())
    assert CONFIGS["cuda"].device == "cuda" and isinstance(CONFIGS["cuda"], LevelStudyConfig)
    assert [t.sweep for t in TASKS] == [tuple(range(5, 80, 5)), tuple(range(10, 100, 10))]
    assert all(set(t.trained) <= set(t.sweep) for t in TASKS)


def test_rerun_replaces_only_the_named_arms(results, data_folder, tmp_path):
    import copy
    import shutil

    from studies.levels import RerunError, rerun_arms

    document, work = results
    work = shutil.copytree(work, tmp_path / "work")  # the rerun saves its adapters there
    before = copy.deepcopy(document)
    from trainer.adapters import read_adapter

    config = dataclasses.replace(CONFIGS["test"], level_steps=3, level_centre="middle")
    again = rerun_arms(copy.deepcopy(before), ["dedicated", "levels"], data_folder, config,
                       work, None, lambda _: None)
    # the study's level arms anchor c at zero (the paper's) unless asked for the middle
    assert read_adapter(work / "adapters" / "noise-levels.safetensors").record.config.centre == \
        pytest.approx((15 / 30 + 35 / 30) / 2)
    assert read_adapter(work / "adapters" / "noise-levels-full.safetensors").record.config.centre == 0
    for name, task in again["tasks"].items():
        old = before["tasks"][name]
        for arm in ("blind", "levels-full", "base", "input"):
            assert task["psnr"][arm] == old["psnr"][arm], arm
        for arm in ("dedicated", "levels", "levels-est"):
            assert list(task["psnr"][arm]) == list(old["psnr"][arm])
            assert task["psnr"][arm] != old["psnr"][arm], arm  # 3 steps instead of 2
    assert again["config"]["level_steps"] == 3
    assert again["rerun"]["arms"] == ["dedicated", "levels"]
    text = render(again, "cmd", "f.png")
    assert "Then dedicated CoLoRA, levels (true c) and levels (estimated c) were trained" in text
    # the same schedule again reproduces the run's figures (a rerun is the same run)
    same = rerun_arms(copy.deepcopy(before), ["levels-full"], data_folder, CONFIGS["test"], work,
                      None, lambda _: None)
    assert all(same["tasks"][n]["psnr"]["levels-full"] == t["psnr"]["levels-full"]
               for n, t in before["tasks"].items())
    with pytest.raises(RerunError, match="arms must be some of"):
        rerun_arms(before, ["nonsense"], data_folder, config, work)


def test_rescore_replaces_only_the_estimated_arm(results, data_folder, monkeypatch):
    import copy

    from degrade.registry import OPS
    from studies.levels import rescore_estimated
    from trainer.estimator import inference

    document, work = results
    assert sorted(p.name for p in (work / "adapters").iterdir()) == sorted(
        f"{task}-{arm}.safetensors" for task, levels in (("noise", (15, 35)), ("jpeg", (30, 60)))
        for arm in ("blind", "levels", "levels-full", *(f"dedicated-{v}" for v in levels)))
    before = copy.deepcopy(document)
    # the same estimator again gives the run's figures back, bit for bit
    same = rescore_estimated(copy.deepcopy(before), data_folder, CONFIGS["test"], work,
                             before["estimator"], lambda _: None)
    assert all(same["tasks"][n]["psnr"]["levels-est"] == t["psnr"]["levels-est"]
               for n, t in before["tasks"].items())

    def level_08(model, image, tile=None, device="cpu"):  # sigma 24, JPEG quality 44
        return [inference.OpEstimate(op, 0.9, 0.8, OPS[op].severity.natural(0.8), "")
                for op in ("gaussian_noise", "jpeg")]

    monkeypatch.setattr(inference, "estimate_image", level_08)
    again = rescore_estimated(copy.deepcopy(before), data_folder, CONFIGS["test"], work,
                              work / "estimator.safetensors", lambda _: None)
    for name, task in again["tasks"].items():
        old = before["tasks"][name]
        for arm in ("levels", "blind", "dedicated", "base"):
            assert task["psnr"][arm] == old["psnr"][arm]
        expected = 24.0 if name == "noise" else 44.0
        assert all(v == pytest.approx(expected) for vs in task["estimated"].values() for v in vs)
        assert task["previous_estimate"]["estimated"] == old["estimated"]
        assert task["previous_estimate"]["levels-est"] == old["psnr"]["levels-est"]
    assert again["rescore"]["arms"] == ["levels-est"]
    assert "scored again with the estimator" in render(again, "cmd", "f.png")


def test_rescore_needs_the_runs_base_and_adapters(results, data_folder, tmp_path):
    from studies.levels import RerunError, rescore_estimated

    document, work = results
    with pytest.raises(RerunError, match="no pre-trained base"):
        rescore_estimated(document, data_folder, CONFIGS["test"], tmp_path, "x", lambda _: None)


def test_a_base_cached_before_the_identity_start_is_not_reused(tmp_path):
    import json

    from studies.levels import base_key, cached_base

    config = CONFIGS["test"]
    assert base_key(config)["start"] == "identity"
    (tmp_path / "base" / "run").mkdir(parents=True)
    (tmp_path / "base" / "run" / "model.safetensors").write_bytes(b"not read")
    old = {k: v for k, v in base_key(config).items() if k != "start"}
    (tmp_path / "base" / "study-key.json").write_text(json.dumps(old))
    assert cached_base(config, tmp_path) is None

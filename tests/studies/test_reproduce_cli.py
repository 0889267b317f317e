"""bench/reproduce.py end to end at its `test` scale on a generated data folder, and its errors.

The `test` scale exists for this file: the smoke scale takes several minutes on two cores.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "reproduce.py"


@pytest.fixture(scope="module")
def reproduce_module(load_module):
    return load_module(SCRIPT, "reproduce_script")


@pytest.fixture(scope="module")
def reproduce(reproduce_module):
    return reproduce_module.main


def test_test_scale_end_to_end(reproduce, data_folder, tmp_path):
    out, report = tmp_path / "run", tmp_path / "docs" / "results.md"
    result = CliRunner().invoke(reproduce, ["--data", str(data_folder), "--scale", "test",
                                            "--out", str(out), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "reproduce test: 90 fine-tuning runs" in result.output.splitlines()[-1]
    results = json.loads((out / "results.json").read_text())
    tasks = [t["name"] for t in results["tasks"]]
    assert tasks == ["real_noise", "rain", "motion_blur", "jpeg_noise", "haze"]
    for study, arms in (("pretraining", ["random", "single", "fixed", "prod"]),
                        ("finetuning", ["full", "lora", "decoder", "colora", "colora-lr4",
                                        "colora-decoder-budget"])):
        psnr = results[study]["psnr"]
        assert list(psnr) == arms
        assert all(math.isfinite(psnr[a][t][c]) for a in arms for t in tasks for c in ("4", "8"))
    assert results["finetuning"]["runs"]["full"] == results["pretraining"]["runs"]["prod"]
    tuned = results["finetuning"]["tuned"]
    assert tuned["full"]["percent"] == 100.0
    assert abs(tuned["colora"]["percent"] - 7.0) < 0.5
    # the budget arm tunes about Decoder-only's share; the lr arm CoLoRA's own
    assert abs(tuned["colora-decoder-budget"]["percent"] - tuned["decoder"]["percent"]) < 3
    assert abs(tuned["colora-lr4"]["percent"] - 7.0) < 0.5
    text = report.read_text()
    assert "--scale test" in text and "## Reading" in text and "Confound arms at 8 pairs" in text
    for name in ("pretraining-line.png", "pretraining-radar.png", "finetuning.png"):
        assert (out / name).is_file() and (report.parent / "results" / name).is_file()


def test_missing_data_folder_is_a_one_line_usage_error(reproduce, tmp_path):
    result = CliRunner().invoke(reproduce, ["--data", str(tmp_path / "absent"),
                                            "--out", str(tmp_path / "run"),
                                            "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 2
    assert "--data" in result.output and "does not exist" in result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "r.md").exists()


def test_incomplete_data_folder_names_the_missing_part(reproduce, tmp_path, make_data):
    import shutil

    root = make_data(tmp_path / "data", polyu_pairs=100)
    shutil.rmtree(root / "cbsd68")
    result = CliRunner().invoke(reproduce, ["--data", str(root), "--out", str(tmp_path / "run"),
                                            "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 2
    assert "missing cbsd68/" in result.output
    assert "Traceback" not in result.output


def test_help_is_instant_and_teaches(reproduce):
    result = CliRunner().invoke(reproduce, ["--help"])
    assert result.exit_code == 0
    assert "--scale" in result.output and "Example" in result.output


def test_corrupt_image_is_named(reproduce, tmp_path, make_data):
    root = make_data(tmp_path / "data", polyu_pairs=100)
    broken = root / "polyu_real_noise" / "lq" / "cam_000.png"
    broken.write_bytes(b"not a png")
    result = CliRunner().invoke(reproduce, ["--data", str(root), "--scale", "test",
                                            "--out", str(tmp_path / "run"),
                                            "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 2
    assert "cam_000.png" in result.output and "Traceback" not in result.output


def test_report_only_rewrites_the_report_with_notes(reproduce, load_module, tmp_path):
    report_tests = load_module(Path(__file__).parent / "test_report.py", "report_tests")

    out, report, notes = tmp_path / "run", tmp_path / "r.md", tmp_path / "notes.md"
    out.mkdir()
    (out / "results.json").write_text(json.dumps(report_tests._results()))
    notes.write_text("A reading written after the run.\n")
    result = CliRunner().invoke(reproduce, ["--report-only", "--out", str(out), "--report",
                                            str(report), "--notes", str(notes)])
    assert result.exit_code == 0, result.output
    text = report.read_text()
    assert "## Notes\n\nA reading written after the run.\n" in text


def test_report_only_without_results_is_a_usage_error(reproduce, tmp_path):
    result = CliRunner().invoke(reproduce, ["--report-only", "--out", str(tmp_path / "none"),
                                            "--report", str(tmp_path / "r.md")])
    assert result.exit_code == 2 and "results.json" in result.output
    assert not (tmp_path / "r.md").exists()


def test_running_without_data_is_a_usage_error(reproduce, tmp_path):
    result = CliRunner().invoke(reproduce, ["--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--data" in result.output


def test_dry_run_keeps_shapes_and_cuts_steps(reproduce_module):
    from studies.scales import get_scale

    gpu = get_scale("gpu")
    dry = reproduce_module.dry_run_scale(gpu)
    assert dry.name == "gpu dry run" and dry.device == gpu.device and dry.model == gpu.model
    for same in ("train_counts", "train_crop", "finetune_patch", "finetune_batch", "eval_crop",
                 "pretrain_patch", "pretrain_batch", "confound_arms"):
        assert getattr(dry, same) == getattr(gpu, same)
    assert (dry.pretrain_steps, dry.finetune_steps, dry.cbsd68_count) == (2, 1, 2)

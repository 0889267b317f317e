"""Items 7, 10, 11 and 12: validation before a run folder is written, silent or misleading
results made explicit, manifests that point outside their folder."""
from __future__ import annotations

import json
import math

import pytest

from pipelines.stages import CorruptDataError, list_shards
from pipelines.verify import verify_dataset
from trainer.evaluate import EvalReport, ImageScore, report_csv

from .conftest import assert_one_line_error, copy_shards, run_cli

TINY = ("--steps", "2", "--batch", "2", "--patch", "16", "--workers", "0", "--val-every", "0")


def test_pretrain_validates_before_writing(shards, tmp_path):
    out = tmp_path / "run"
    typo = run_cli("trainer", "pretrain", shards, "--model", "nafnet-tinny", *TINY, "--out", out)
    assert_one_line_error(typo, 2, "'--model'", "unknown model preset 'nafnet-tinny'")
    assert not out.exists()
    resumed = run_cli("trainer", "pretrain", shards, "--model", "nafnet-tiny", *TINY, "--out",
                      out, "--resume")
    assert_one_line_error(resumed, 1, "holds no run to resume")
    fixed = run_cli("trainer", "pretrain", shards, "--model", "nafnet-tiny", *TINY, "--out", out)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads((out / "run.json").read_text())["identity"]["model"] == "nafnet-tiny"


def test_a_run_that_never_checkpointed_is_replaced(shards, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"identity": {"model": "nafnet-small"},
                                              "options": {}}))
    result = run_cli("trainer", "pretrain", shards, "--model", "nafnet-tiny", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "stopped before its first checkpoint" in result.stderr


def test_colora_says_when_it_uses_fewer_pairs_or_smaller_crops(shards, model_file, tmp_path):
    result = run_cli("trainer", "colora", "--task", "blur", "--base", model_file, "--method",
                     "lora", "--data", shards, "--test", shards, "--test-count", "1",
                     "--train-count", "16", "--patch", "64", "--steps", "1", "--batch", "1",
                     "--device", "cpu", "--out", tmp_path / "c", timeout=240)
    assert result.returncode == 0, result.stderr
    assert "holds 8 pair(s), fewer than the 16 asked for; using 8" in result.stderr
    assert "patch 64 is larger than the smallest training pair (48 pixels a side)" in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (("--crop", "100"), "100 is larger than the image (80x64)"),
    (("--ops", ""), "unknown op ''"),
])
def test_preview_refuses_impossible_grids(photo, tmp_path, args, fragment):
    result = run_cli("degrade", "preview", photo, *args, "--out", tmp_path / "p.png")
    assert_one_line_error(result, 2, fragment)


def test_preview_of_a_one_pixel_image(tmp_path):
    from pipelines.codecs import encode_png
    import numpy as np

    dot = tmp_path / "dot.png"
    dot.write_bytes(encode_png(np.zeros((1, 1, 3), np.uint8)))
    result = run_cli("degrade", "preview", dot, "--out", tmp_path / "p.png")
    assert_one_line_error(result, 2, "'--crop'", "larger than the image (1x1)")


def test_build_shards_with_an_empty_op_list(tmp_path):
    result = run_cli("degrade", "build-shards", "--ops", "", "--out", tmp_path / "s")
    assert_one_line_error(result, 2, "'--ops'", "unknown op ''")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("name", ["../outside.tar", "/etc/passwd", "sub/shard.tar", ".."])
def test_manifest_names_stay_inside_the_folder(shards, tmp_path, name):
    def escape(manifest):
        manifest["shards"][0]["name"] = name
        return manifest
    folder = copy_shards(shards, tmp_path / "s", manifest=escape)
    with pytest.raises(CorruptDataError, match="not a plain file name"):
        list_shards(folder)
    report = verify_dataset(folder, decode=False)
    assert any("not a plain file name" in p for p in report.problems)
    result = run_cli("trainer", "pretrain", folder, "--model", "nafnet-tiny", *TINY, "--out",
                     tmp_path / "run")
    assert_one_line_error(result, 1, "not a plain file name")


def test_pretrain_without_a_manifest_trains(shards, tmp_path):
    folder = copy_shards(shards, tmp_path / "bare", manifest=False)
    result = run_cli("trainer", "pretrain", folder, "--model", "nafnet-tiny", *TINY, "--out",
                     tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "epoch_length" not in result.stderr


def test_capped_psnr_is_said():
    report = EvalReport((ImageScore("a", math.inf, 1.0, 30.0, 0.9),
                         ImageScore("b", 40.0, 0.99, 30.0, 0.9)))
    assert report.means()["psnr"] == 70.0
    assert "1 PSNR value(s) above 100 dB (inf: identical images) counted as 100 dB" in report.summary()
    assert report_csv(report).splitlines()[-1].startswith("mean (psnr capped at 100 dB),")
    plain = EvalReport((ImageScore("b", 40.0, 0.99, 30.0, 0.9),))
    assert "capped" not in plain.summary() and report_csv(plain).splitlines()[-1].startswith("mean,")


def test_merge_says_the_base_is_unchanged(model_file, adapter_file, tmp_path):
    result = run_cli("trainer", "merge", model_file, adapter_file, "--out", tmp_path / "m.safetensors")
    assert result.returncode == 0, result.stderr
    assert "into a plain model" in result.stdout and "itself is unchanged" in result.stdout


def test_faig_names_its_top_block(model_file, tmp_path):
    result = run_cli("trainer", "faig", "--base", model_file, "--task", "blur", "--steps", "1",
                     "--tune-steps", "1", "--images", "1", "--patch", "16", "--batch", "1",
                     "--device", "cpu", "--out", tmp_path / "f", timeout=240)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert "top block " in last and "(" in last.split("top block ")[1]


def test_dry_run_without_faig_says_why_colora_is_missing(model_file):
    result = run_cli("trainer", "colora", "--task", "blur", "--base", model_file, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "(not counted: colora" in result.stdout and "--faig" in result.stdout


def test_alpha_handling_is_documented():
    apply_help = " ".join(run_cli("degrade", "apply", "--help").stdout.split())
    restore_help = " ".join(run_cli("trainer", "restore", "--help").stdout.split())
    assert "alpha is passed through" in apply_help and "alpha channel" in restore_help

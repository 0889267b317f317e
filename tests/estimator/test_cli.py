"""The commands end to end on a tiny estimator: train, estimate, eval, and every bad input."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from trainer.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def photos(tmp_path):
    """Two readable images of different sizes and one that is not an image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "a.png"), rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "b.jpg"), rng.integers(0, 256, (300, 200, 3), dtype=np.uint8))
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def test_train_command_writes_a_run(tmp_path, small_pool_shards):
    out = tmp_path / "run"
    result = run("estimator", "train", small_pool_shards, "--out", out, "--steps", 2, "--batch",
                 2, "--patch", 32, "--threads", 1, "--workers", 1, "--head-crops", 8, "--quiet")
    assert result.exit_code == 0, result.output
    assert "2 steps" in result.output and (out / "model.safetensors").is_file()
    assert "head refitted on 8 crops" in result.output
    again = run("estimator", "train", small_pool_shards, "--out", out, "--steps", 2, "--patch",
                32, "--quiet")
    assert again.exit_code == 1 and "already holds" in again.output


def test_estimate_reports_each_image_a_summary_and_skips_unreadable(tmp_path, trained, photos):
    out = tmp_path / "estimates.json"
    result = run("estimate", trained, photos, "--json", out)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert any("broken.png: skipped" in line for line in lines)
    assert lines[-1].startswith("2 image(s): ") and "1 skipped" in lines[-1]
    report = json.loads(out.read_text())
    assert [len(image["ops"]) for image in report["images"]] == [7, 7]
    assert report["skipped"][0]["path"].endswith("broken.png") and report["skipped"][0]["reason"]
    assert set(report["summary"]) == {op["op"] for op in report["images"][0]["ops"]}
    for image in report["images"]:  # the family outputs, noise and blur
        assert set(image["families"]) == {"noise", "blur"}
        assert all(0 <= p <= 1 for p in image["families"].values())


def test_estimate_skips_a_too_small_image_and_refuses_a_missing_path(tmp_path, trained,
                                                                      photos):
    cv2.imwrite(str(photos / "tiny.png"), np.zeros((8, 8, 3), np.uint8))
    result = run("estimate", trained, photos)
    assert result.exit_code == 0, result.output
    assert any("tiny.png: skipped (8x8 is smaller than 16x16)" in line
               for line in result.output.splitlines())
    assert "2 skipped" in result.output.strip().splitlines()[-1]
    missing = run("estimate", trained, photos, tmp_path / "gone.png")
    assert missing.exit_code == 2 and "gone.png: no such image or folder" in missing.output
    assert "skipped" not in missing.output  # refused before any image is read
    (photos / "a.png").unlink()
    (photos / "b.jpg").unlink()
    unreadable = run("estimate", trained, photos)
    assert unreadable.exit_code == 1 and "Traceback" not in unreadable.output
    assert unreadable.output.strip().splitlines()[-1] == "Error: no image could be read"


def test_eval_writes_report_and_chart(tmp_path, trained, prod_shards):
    out = tmp_path / "eval"
    result = run("estimator", "eval", trained, "--data", prod_shards, "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval.json").read_text())
    assert report["samples"] == 24 and len(report["ops"]) == 7
    jpeg = report["ops"]["jpeg"]
    assert {"all", "single", "single_above_floor", "by_length", "by_ops_after"} <= set(jpeg)
    assert "noise" in report["families"] and "targets met" in result.output
    assert {"auroc", "mae", "positives"} <= set(report["families"]["noise"]["single"])
    assert report["families"]["noise"]["scored_by"] == "family output"
    assert report["families"]["jpeg"]["scored_by"] == "most probable member"
    assert set(report["thresholds"]) == set(report["families"])
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run("estimator", "eval", trained, "--data", prod_shards, "--out", out)
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_shards_of_another_pool_are_refused_naming_the_missing_ops(tmp_path, prod_shards,
                                                                  small_pool_shards):
    small = tmp_path / "small"
    assert run("estimator", "train", small_pool_shards, "--out", small, "--steps", 1, "--batch",
               2, "--patch", 32, "--head-crops", 0, "--quiet").exit_code == 0
    result = run("estimator", "eval", small, "--data", prod_shards, "--out", tmp_path / "e")
    assert result.exit_code == 1
    assert "gaussian_noise" in result.output and "does not cover" in result.output
    assert "Traceback" not in result.output


def test_estimator_and_restoration_model_are_not_confused(tmp_path, trained, photos,
                                                          prod_shards):
    restored = run("restore", trained, photos / "a.png", "--out", tmp_path / "r")
    assert restored.exit_code != 0 and "degradation estimator" in restored.output
    evaluated = run("eval", trained, "--data", prod_shards, "--out", tmp_path / "e.csv")
    assert evaluated.exit_code != 0 and "degradation estimator" in evaluated.output
    from trainer.checkpoint import save_model
    from trainer.models import create_model
    model_path = save_model(tmp_path / "nafnet.safetensors", create_model("nafnet-tiny"))
    estimated = run("estimate", model_path, photos)
    assert estimated.exit_code == 1 and "a restoration model, not a degradation estimator" \
        in estimated.output


@pytest.mark.parametrize("args, message, status", [
    (["estimate", "MISSING", "PHOTOS"], "no such model file", 1),
    (["estimate", "RUN", "nowhere"], "'IMAGES': nowhere: no such image or folder", 2),
    (["estimator", "eval", "RUN", "--data", "EMPTY"], "no manifest.json", 1),
    (["estimator", "train", "EMPTY", "--out", "NEW"], "no manifest.json", 1),
    (["estimator", "train", "SHARDS", "--out", "NEW", "--patch", "12"],
     "'--patch': 12 must be a multiple of 8", 2),
    (["estimator", "train", "SHARDS", "--out", "NEW", "--patch", "64"],
     "use a --patch of at most 32", 1),
    (["estimator", "train", "SHARDS", "--out", "RUN", "--patch", "32"],
     "--resume it or choose another --out", 1),
    (["estimator", "train", "SHARDS", "--out", "RUN", "--patch", "32", "--resume", "--batch", "3"],
     "batch", 1),
])
def test_bad_input_is_one_line_without_traceback(tmp_path, trained, photos, prod_shards, args,
                                                 message, status):
    (tmp_path / "empty").mkdir()
    names = {"MISSING": tmp_path / "missing", "PHOTOS": photos, "RUN": trained,
             "EMPTY": tmp_path / "empty", "NEW": tmp_path / "new", "SHARDS": prod_shards}
    result = run(*[names.get(a, a) for a in args])
    assert result.exit_code == status, result.output
    assert message in result.output and "Traceback" not in result.output
    if status == 1:  # data errors are one line; usage errors add click's usage lines
        assert len(result.output.strip().splitlines()) == 1


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, small_pool_shards):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = run("estimator", "train", small_pool_shards, "--out", tmp_path / "g", "--device",
                 "cuda")
    assert result.exit_code == 2 and "CUDA is not available" in result.output
    assert not (tmp_path / "g").exists()

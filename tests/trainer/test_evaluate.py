"""Scoring pairs: the identity baseline, the CSV, size errors; curves PNG."""
import csv
import json

import numpy as np
import pytest
import torch

from trainer.evaluate import evaluate_pairs, report_csv, score_pair, validation_fn, write_report
from trainer.metrics import psnr, ssim
from trainer.plots import plot_curves


class Identity(torch.nn.Module):
    def forward(self, x):
        return x


def _pairs(count=3, shape=(24, 20, 3)):
    rng = np.random.default_rng(0)
    for index in range(count):
        gt = rng.integers(0, 256, shape, dtype=np.uint8)
        lq = np.clip(gt + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)
        yield f"img{index}", lq, gt


def test_identity_model_scores_equal_the_baseline():
    report = evaluate_pairs(Identity(), _pairs())
    assert len(report.scores) == 3
    for (name, lq, gt), score in zip(_pairs(), report.scores):
        assert score.name == name
        assert score.psnr == score.input_psnr == pytest.approx(psnr(lq, gt))
        assert score.ssim == score.input_ssim == pytest.approx(ssim(lq, gt))
    assert "gain +0.00 dB" in report.summary()


def test_csv_has_rows_and_mean(tmp_path):
    report = evaluate_pairs(Identity(), _pairs())
    path = write_report(report, tmp_path / "r.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["name", "psnr", "ssim", "input_psnr", "input_ssim"]
    assert [r[0] for r in rows[1:]] == ["img0", "img1", "img2", "mean"]
    assert float(rows[-1][1]) == pytest.approx(report.mean("psnr"), abs=1e-6)
    assert report_csv(report) == path.read_text()


def test_size_mismatch_names_the_pair():
    lq = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="x: input 12x10 and target 12x11 differ"):
        score_pair(Identity(), "x", lq, np.zeros((11, 12, 3), np.uint8))


def test_validation_fn_restores_training_mode(conv_net):
    model = conv_net().train()
    result = validation_fn(list(_pairs(2)), "cpu")(model)
    assert set(result) == {"psnr", "ssim"} and model.training


def test_plot_curves(tmp_path):
    lines = [{"step": s, "loss": -20 - s / 10, "lr": 1e-3} for s in range(1, 11)]
    lines += [{"step": 10, "val_psnr": 25.0, "val_ssim": 0.7}]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in lines))
    png = plot_curves(metrics, tmp_path / "curves.png", title="t", loss_meaning="-PSNR in dB")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_identical_pair_does_not_make_the_mean_psnr_infinite():
    pairs = list(_pairs(2))
    name, _, gt = pairs[0]
    pairs[0] = (name, gt.copy(), gt)  # a degradation that rounded away to nothing
    report = evaluate_pairs(Identity(), pairs)
    assert report.scores[0].input_psnr == float("inf")
    expected = (100.0 + psnr(*pairs[1][1:])) / 2
    assert report.mean("input_psnr") == pytest.approx(expected)

"""Report numbers against hand computations, and the charts and Markdown from a fake result."""
from __future__ import annotations

import math

import numpy as np
import pytest

from studies import plots, report
from studies.environment import hardware_info

COUNTS = [16, 128]
TASKS = ["a", "b"]


def _runs(offsets: dict[str, float]) -> dict:
    """{arm: {task: {count: record}}} with per-image PSNRs base + offset (+ 1 dB at 128)."""
    base = {"a": [20.0, 22.0, 24.0], "b": [30.0, 31.0, 29.0]}
    return {arm: {task: {str(c): {"per_image": [v + off + (c == 128) for v in base[task]],
                                  "psnr": float(np.mean(base[task])) + off + (c == 128),
                                  "tuned_params": 100 if arm == "full" else 7}
                         for c in COUNTS} for task in TASKS}
            for arm, off in offsets.items()}


def test_average_curve_and_normalisation():
    scores = {"x": {"a": {"16": 20.0, "128": 22.0}, "b": {"16": 30.0, "128": 34.0}},
              "y": {"a": {"16": 21.0, "128": 21.0}, "b": {"16": 30.0, "128": 30.0}}}
    assert plots.average_curve(scores["x"], COUNTS) == [25.0, 28.0]
    assert plots.normalized_at(scores, TASKS, 128) == {"x": [1.0, 1.0], "y": [0.0, 0.0]}
    assert plots.normalized_at(scores, TASKS, 16) == {"x": [0.0, 0.0], "y": [1.0, 0.0]}


def test_paired_difference_is_the_mean_and_standard_error_of_per_image_gaps():
    runs = _runs({"p": 0.0, "q": 0.0})
    runs["q"]["a"]["128"]["per_image"] = [19.0, 22.0, 26.0]  # gaps to p (21, 23, 25): 2, 1, -1
    mean, se, n = report.paired_difference(runs, "p", "q", 128)
    gaps = np.array([2.0, 1.0, -1.0, 0.0, 0.0, 0.0])
    assert n == 6 and mean == pytest.approx(gaps.mean())
    assert se == pytest.approx(gaps.std(ddof=1) / math.sqrt(6))


def test_order_agreement_counts_pairs_in_the_papers_direction():
    means = {"prod": 4.0, "fixed": 3.0, "single": 2.0, "random": 1.0}
    assert report.order_agreement(means, report.PAPER_ARM_ORDER) == (6, 6)
    means["random"] = 5.0  # now above all three
    assert report.order_agreement(means, report.PAPER_ARM_ORDER) == (3, 6)


def _results() -> dict:
    from studies.scales import get_scale
    from dataclasses import asdict
    from studies.reproduction import (ARM_LABELS, method_labels, psnr_table,
                                            tuned_parameter_table)

    pre = _runs({"random": -2.0, "single": 0.0, "fixed": 0.5, "prod": 1.0})
    ft = _runs({"full": 1.0, "lora": 0.2, "decoder": 0.1, "colora": 0.9})
    tasks = [{"name": "a", "label": "Task A", "description": "a's degradation", "input_psnr": 18.0,
              "test_images": ["1", "2", "3"], "test_size": [48, 48, 3]},
             {"name": "haze", "label": "Haze", "description": "haze", "input_psnr": 15.0,
              "test_images": ["1", "2", "3"], "test_size": [48, 48, 3]}]
    for runs in (pre, ft):
        for arm in runs:
            runs[arm]["haze"] = runs[arm].pop("b")
    return {"scale": asdict(get_scale("test")), "counts": COUNTS, "tasks": tasks,
            "model_params": 100, "command": "python bench/reproduce.py --data D",
            "hardware": hardware_info("cpu"), "wall_seconds": 90.0,
            "finished_utc": "2026-01-01 00:00 UTC",
            "pretraining": {"labels": ARM_LABELS, "runs": pre, "psnr": psnr_table(pre),
                            "pretrain_runs": {"random": {"steps": 0},
                                              "prod": {"pairs": 8, "steps": 5,
                                                       "final_loss": -21.5, "seconds": 3.0}}},
            "finetuning": {"labels": method_labels(), "runs": ft, "psnr": psnr_table(ft),
                           "tuned": tuned_parameter_table(ft, 100)}}


def test_report_and_charts_from_a_fake_result(tmp_path):
    results = _results()
    path = report.write_report(results, tmp_path / "out", tmp_path / "docs" / "results.md")
    text = path.read_text()
    for name in report.FIGURES.values():
        assert (tmp_path / "out" / name).stat().st_size > 1000
        assert f"(results/{name})" in text
        assert (tmp_path / "docs" / "results" / name).is_file()
    assert "python bench/reproduce.py --data D" in text
    assert "| PROD | 27.00 | 28.00 |" in text  # mean over tasks at 16 and 128 pairs
    assert "At 128 pairs the measured order is PROD > Fixed > Single > Random init; 6 of the 6" in text
    assert "| CoLoRA | 7 | 7.0% |" in text
    assert "| PROD | 8 | 5 | 21.50 | 3 |" in text
    assert not list(tmp_path.rglob("*.partial*"))


def test_claim_verdicts_read_the_paired_gaps():
    results = _results()
    lines = report.claim_verdicts(results, 128)
    # the fake per-image offsets are constant, so every nonzero gap has SE 0 and is separated
    assert lines[0] == ("paper PROD > Random init; here PROD better than Random init: agrees "
                        "(PROD - Random init = +3.00 dB, smallest resolvable gap 2 SE = 0.00 dB)")
    assert lines[3].startswith("paper CoLoRA = Full; here Full better than CoLoRA: disagrees")
    results["finetuning"]["runs"]["lora"] = results["finetuning"]["runs"]["colora"]
    assert report.claim_verdicts(results, 128)[4].startswith(
        "paper CoLoRA > LoRA; here not resolved (CoLoRA - LoRA = +0.00 dB")


def test_an_equality_claim_agrees_only_when_the_run_could_see_the_papers_gap():
    results = _results()
    runs = results["finetuning"]["runs"]
    def with_gaps(g):  # colora = full on average, per-image gaps alternating +-g
        for task, by_count in runs["full"].items():
            full = by_count["128"]["per_image"]
            runs["colora"][task]["128"]["per_image"] = [v + g * (-1) ** i
                                                         for i, v in enumerate(full)]
        return report.claim_verdicts(results, 128)[3]

    assert "within 0.15 dB, as the paper finds: agrees" in with_gaps(0.05)
    assert "here not resolved" in with_gaps(1.0)


def test_worse_than_input_names_arm_and_task():
    results = _results()  # task a: input 18 dB, Random init 20.0 dB at 16 pairs; haze: input 15
    assert report.worse_than_input(results, 16) == []
    results["tasks"][0]["input_psnr"] = 21.0
    assert report.worse_than_input(results, 16) == ["Random init on Task A"]


def test_confound_arms_are_read_against_their_claim_and_method(tmp_path):
    from studies.scales import CONFOUND_ARMS
    from dataclasses import asdict
    from studies.reproduction import psnr_table, tuned_parameter_table

    results = _results()
    ft = results["finetuning"]
    ft["runs"].update(_runs({"colora-lr4": 1.2}))
    ft["runs"]["colora-lr4"]["haze"] = ft["runs"]["colora-lr4"].pop("b")
    ft["confound_arms"] = {"colora-lr4": asdict(CONFOUND_ARMS["colora-lr4"])}
    ft["labels"] = {**ft["labels"], "colora-lr4": CONFOUND_ARMS["colora-lr4"].label}
    ft["psnr"], ft["tuned"] = psnr_table(ft["runs"]), tuned_parameter_table(ft["runs"], 100)
    [line] = report.confound_reading(results, 128)
    assert line.startswith("CoLoRA lr x4 (CoLoRA with lr x4, 7.0% of the model tuned; tests the "
                           "paper's CoLoRA = Full): CoLoRA lr x4 - CoLoRA = +0.30 dB")
    assert "CoLoRA lr x4 - Full = +0.20 dB" in line
    text = report.write_report(results, tmp_path / "out", tmp_path / "r.md").read_text()
    assert "Confound arms at 128 pairs" in text and line in text

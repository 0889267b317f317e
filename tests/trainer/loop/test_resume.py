"""Resuming exactly, refusing a changed recipe or a mixed run folder."""
import pytest
import torch

from trainer.loop import FitError, LoopConfig, fit

def test_resume_matches_an_uninterrupted_run(conv_net, make_batches, tmp_path, metric_records):
    config = LoopConfig(steps=12, log_every=2, ckpt_every=4, progress=False)
    torch.manual_seed(0)
    fit(conv_net(), make_batches(3), config, out_dir=tmp_path / "straight")

    def dies_after(limit):
        def source(start):
            for index, batch in enumerate(make_batches(3)(start)):
                if start + index == limit:
                    raise RuntimeError("simulated crash")
                yield batch
        return source

    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(conv_net(), dies_after(10), config, out_dir=tmp_path / "resumed")
    torch.manual_seed(123)  # a different init: resume must overwrite it
    result = fit(conv_net(), make_batches(3), config, out_dir=tmp_path / "resumed", resume=True)
    assert result.resumed_from == 8
    straight = [(r["step"], r["loss"], r["lr"]) for r in metric_records(tmp_path / "straight")]
    resumed = [(r["step"], r["loss"], r["lr"]) for r in metric_records(tmp_path / "resumed")]
    assert resumed == straight


def test_resume_refuses_changed_recipe(conv_net, make_batches, tmp_path):
    fit(conv_net(), make_batches(0), LoopConfig(steps=2, progress=False), out_dir=tmp_path)
    with pytest.raises(FitError, match="lr=0.001 but this run has lr=0.002"):
        fit(conv_net(), make_batches(0), LoopConfig(steps=2, lr=2e-3, progress=False),
            out_dir=tmp_path, resume=True)


def test_existing_run_is_not_overwritten(conv_net, make_batches, tmp_path):
    fit(conv_net(), make_batches(0), LoopConfig(steps=2, progress=False), out_dir=tmp_path)
    before = (tmp_path / "metrics.jsonl").read_bytes()
    with pytest.raises(FitError, match="already holds a training run"):
        fit(conv_net(), make_batches(0), LoopConfig(steps=2, progress=False), out_dir=tmp_path)
    assert (tmp_path / "metrics.jsonl").read_bytes() == before

"""The loop: logging schedule, cosine schedule, validation, AMP, compile, exhausted data."""
import itertools
import json
import math

import pytest
import torch

from trainer.checkpoint import CHECKPOINT_DIR, latest_checkpoint, read_metadata
from trainer.loop import FitError, LoopConfig, fit

def test_fit_lowers_the_loss_and_ends_at_the_floor(conv_net, make_batches, tmp_path,
                                                   metric_records):
    torch.manual_seed(0)
    config = LoopConfig(steps=30, lr=3e-3, lr_min=1e-5, log_every=10, ckpt_every=0,
                        progress=False)
    result = fit(conv_net(), make_batches(0), config, out_dir=tmp_path)
    losses = [r["loss"] for r in metric_records(tmp_path)]
    assert [r["step"] for r in metric_records(tmp_path)] == [10, 20, 30]
    assert losses[-1] < losses[0]
    assert metric_records(tmp_path)[-1]["lr"] == pytest.approx(1e-5)
    assert result.steps == 30 and result.final_loss == pytest.approx(losses[-1])
    assert latest_checkpoint(tmp_path / CHECKPOINT_DIR)[0] == 30  # always one at the end


def test_cosine_schedule_midpoint(conv_net, make_batches, tmp_path, metric_records):
    config = LoopConfig(steps=10, lr=1e-3, lr_min=0.0, log_every=5, progress=False)
    fit(conv_net(), make_batches(0), config, out_dir=tmp_path)
    midpoint = 1e-3 * (1 + math.cos(math.pi / 2)) / 2
    assert metric_records(tmp_path)[0]["lr"] == pytest.approx(midpoint)


def test_exhausted_batches_is_a_clear_error(conv_net, make_batches):
    def three(start):
        return itertools.islice(make_batches(0)(start), 3)
    with pytest.raises(FitError, match="ran out after 3 steps"):
        fit(conv_net(), three, LoopConfig(steps=5, progress=False))


def test_validation_keeps_the_best_weights(conv_net, make_batches, tmp_path, metric_records):
    scores = iter([20.0, 25.0, 22.0])
    config = LoopConfig(steps=6, val_every=2, log_every=2, progress=False)
    result = fit(conv_net(), make_batches(0), config, out_dir=tmp_path,
                 val_fn=lambda model: {"psnr": next(scores), "ssim": 0.5})
    assert result.best_psnr == 25.0 and result.last_val["psnr"] == 22.0
    meta = read_metadata(tmp_path / "best.safetensors")
    assert meta["step"] == "4" and json.loads(meta["val"])["psnr"] == 25.0
    assert [r["val_psnr"] for r in metric_records(tmp_path, "val_psnr")] == [20.0, 25.0, 22.0]


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # fp16 skips step 1
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_modes_train(conv_net, make_batches, amp):
    torch.manual_seed(0)
    result = fit(conv_net(), make_batches(0), LoopConfig(steps=3, amp=amp, log_every=1,
                                                         channels_last=True, progress=False))
    assert math.isfinite(result.final_loss)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # emitted inside torch.compile
def test_compile_builds_one_graph_despite_validation(conv_net, make_batches):
    """Fixed training shapes compile once; validation runs the plain module (other shapes,
    eval mode) and must not trigger recompilation."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()

    def val_fn(model):
        with torch.no_grad():
            return {"psnr": float(model(torch.rand(1, 3, 20, 24)).mean()), "ssim": 0.0}

    config = LoopConfig(steps=4, compile=True, channels_last=True, val_every=2, log_every=2,
                        progress=False)
    result = fit(conv_net(), make_batches(0), config, val_fn=val_fn)
    assert math.isfinite(result.final_loss)
    assert counters["stats"]["unique_graphs"] == 1

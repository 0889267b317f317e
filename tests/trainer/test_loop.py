"""The shared optimisation loop: losses, schedule, parameter subsets, resume, run-folder safety."""
import itertools
import json
import math

import pytest
import torch

from trainer.checkpoint import CHECKPOINT_DIR, latest_checkpoint, read_metadata, SUBSET_FORMAT
from trainer.loop import FitError, LoopConfig, fit, l1_loss, psnr_loss


def _records(out_dir, key="loss"):
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if key in json.loads(line)]


def test_psnr_loss_is_minus_psnr():
    torch.manual_seed(0)
    target = torch.rand(3, 3, 8, 8)
    pred = target + 0.05 * torch.randn_like(target)
    mse = ((pred - target) ** 2).mean(dim=(1, 2, 3))
    expected = -(10 * torch.log10(1 / (mse + 1e-8))).mean()
    assert psnr_loss(pred, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert l1_loss(pred, target).item() == pytest.approx((pred - target).abs().mean().item())


def test_fit_lowers_the_loss_and_ends_at_the_floor(conv_net, make_batches, tmp_path):
    torch.manual_seed(0)
    config = LoopConfig(steps=30, lr=3e-3, lr_min=1e-5, log_every=10, ckpt_every=0,
                        progress=False)
    result = fit(conv_net(), make_batches(0), config, out_dir=tmp_path)
    losses = [r["loss"] for r in _records(tmp_path)]
    assert [r["step"] for r in _records(tmp_path)] == [10, 20, 30]
    assert losses[-1] < losses[0]
    assert _records(tmp_path)[-1]["lr"] == pytest.approx(1e-5)
    assert result.steps == 30 and result.final_loss == pytest.approx(losses[-1])
    assert latest_checkpoint(tmp_path / CHECKPOINT_DIR)[0] == 30  # always one at the end


def test_cosine_schedule_midpoint(conv_net, make_batches, tmp_path):
    config = LoopConfig(steps=10, lr=1e-3, lr_min=0.0, log_every=5, progress=False)
    fit(conv_net(), make_batches(0), config, out_dir=tmp_path)
    assert _records(tmp_path)[0]["lr"] == pytest.approx(1e-3 * (1 + math.cos(math.pi / 2)) / 2)


def test_only_given_params_change(conv_net, make_batches, tmp_path):
    torch.manual_seed(0)
    model = conv_net()
    head_before = model.head.weight.detach().clone()
    tail_before = model.tail.weight.detach().clone()
    config = LoopConfig(steps=4, log_every=2, ckpt_every=2, grad_clip=0, progress=False)
    fit(model, make_batches(0), config, params=[model.tail.weight, model.tail.bias],
        out_dir=tmp_path)
    assert torch.equal(model.head.weight, head_before)
    assert not torch.equal(model.tail.weight, tail_before)
    _, weights, _ = latest_checkpoint(tmp_path / CHECKPOINT_DIR)
    assert read_metadata(weights)["format"] == SUBSET_FORMAT


def test_params_must_belong_to_the_model(conv_net, make_batches):
    with pytest.raises(FitError, match="model's own parameters"):
        fit(conv_net(), make_batches(0), LoopConfig(steps=1, progress=False),
            params=[torch.nn.Parameter(torch.zeros(1))])


def test_gradient_clipping_bounds_the_gradient(conv_net, make_batches):
    from trainer.loop import make_training

    torch.manual_seed(0)
    training = make_training(conv_net(), LoopConfig(steps=1, grad_clip=0.01, progress=False))
    norms = []
    training.optimizer.register_step_pre_hook(lambda *_: norms.append(
        torch.norm(torch.stack([p.grad.norm() for p in training.params])).item()))
    batch = next(iter(make_batches(0)(0)))
    training.step(batch["lq"], batch["gt"])
    assert 0 < norms[0] <= 0.01 + 1e-6


def test_resume_matches_an_uninterrupted_run(conv_net, make_batches, tmp_path):
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
    straight = [(r["step"], r["loss"], r["lr"]) for r in _records(tmp_path / "straight")]
    resumed = [(r["step"], r["loss"], r["lr"]) for r in _records(tmp_path / "resumed")]
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


def test_exhausted_batches_is_a_clear_error(conv_net, make_batches):
    def three(start):
        return itertools.islice(make_batches(0)(start), 3)
    with pytest.raises(FitError, match="ran out after 3 steps"):
        fit(conv_net(), three, LoopConfig(steps=5, progress=False))


def test_validation_keeps_the_best_weights(conv_net, make_batches, tmp_path):
    scores = iter([20.0, 25.0, 22.0])
    config = LoopConfig(steps=6, val_every=2, log_every=2, progress=False)
    result = fit(conv_net(), make_batches(0), config, out_dir=tmp_path,
                 val_fn=lambda model: {"psnr": next(scores), "ssim": 0.5})
    assert result.best_psnr == 25.0 and result.last_val["psnr"] == 22.0
    meta = read_metadata(tmp_path / "best.safetensors")
    assert meta["step"] == "4" and json.loads(meta["val"])["psnr"] == 25.0
    assert [r["val_psnr"] for r in _records(tmp_path, "val_psnr")] == [20.0, 25.0, 22.0]


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # fp16 skips step 1
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_modes_train(conv_net, make_batches, amp):
    torch.manual_seed(0)
    result = fit(conv_net(), make_batches(0), LoopConfig(steps=3, amp=amp, log_every=1,
                                                         channels_last=True, progress=False))
    assert math.isfinite(result.final_loss)


@pytest.mark.parametrize("field,value,message", [
    ("steps", 0, "steps"), ("loss", "l2", "loss"), ("amp", "fp8", "amp"), ("lr", -1.0, "lr"),
    ("log_every", -1, "log_every")])
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        LoopConfig(**{"steps": 1, field: value})


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


def test_uint8_batches_train_like_their_float_scaling(conv_net):
    """The reader hands uint8 batches to the device; the step must see exactly x / 255."""
    from pipelines.batching import to_float
    from trainer.loop import make_training

    generator = torch.Generator().manual_seed(3)
    lq = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=generator)
    gt = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=generator)
    losses = []
    for as_float in (False, True):
        torch.manual_seed(0)
        training = make_training(conv_net(), LoopConfig(steps=2, progress=False))
        assert torch.equal(training.to_device(lq), to_float(lq))  # as the reader scales
        pair = (to_float(lq), to_float(gt)) if as_float else (lq, gt)
        losses.append([training.step(*pair).item() for _ in range(2)])
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)

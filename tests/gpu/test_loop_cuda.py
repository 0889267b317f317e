"""trainer.loop on CUDA: the full GPU training step (fused AdamW, bf16 autocast, channels_last,
torch.compile, uint8 batches scaled on the device), no recompilation, and fit's checkpoints and
resume with CUDA tensors and optimizer state."""
from __future__ import annotations

import json

import pytest
import torch

from pipelines.batching import to_float
from trainer.loop import LoopConfig, fit, make_training
from trainer.models import create_model

GPU_PATH = dict(amp="bf16", channels_last=True, compile=True, device="cuda", progress=False)


def fresh_model(gpu, preset="nafnet-tiny"):
    torch.manual_seed(0)
    return gpu.randomize(create_model(preset))


def uint8_pair(gpu, batch=4, size=64):
    lq, gt = gpu.smooth_pairs(batch, size, seed=2)
    return gpu.to_uint8(lq), gpu.to_uint8(gt)


def test_to_device_scales_uint8_on_the_gpu(gpu):
    training = make_training(fresh_model(gpu), LoopConfig(steps=1, **GPU_PATH))
    lq, _ = uint8_pair(gpu)
    moved = training.to_device(lq)
    assert moved.device.type == "cuda" and moved.dtype == torch.float32
    assert moved.is_contiguous(memory_format=torch.channels_last)
    # exactly x / 255, the bits the reader's CPU conversion gives (CUDA would turn a float32
    # division by a scalar into a multiply by its reciprocal)
    assert torch.equal(moved.cpu(), to_float(lq.cpu()))
    assert torch.equal(training.to_device(lq.float() / 255).cpu(), lq.float() / 255)  # float as is


def test_gpu_training_step_learns_and_compiles_once(gpu):
    """The whole GPU path on uint8 batches follows the eager float32 run on float batches."""
    import torch._dynamo

    lq, gt = uint8_pair(gpu)
    steps = 12
    eager = make_training(fresh_model(gpu), LoopConfig(steps=steps, device="cuda", progress=False))
    fast = make_training(fresh_model(gpu), LoopConfig(steps=steps, **GPU_PATH))
    assert fast.optimizer.defaults["fused"] is True
    assert all(p.is_cuda for p in fast.model.parameters())
    float_pair = (lq.float() / 255, gt.float() / 255)
    eager_losses = [eager.step(*float_pair).item() for _ in range(steps)]
    fast_losses = [fast.step(lq, gt).item()]  # compiles here
    torch._dynamo.config.error_on_recompile = True
    try:
        fast_losses += [fast.step(lq, gt).item() for _ in range(steps - 1)]
    finally:
        torch._dynamo.config.error_on_recompile = False
    print(f"\n-PSNR per step, eager fp32: {[round(v, 3) for v in eager_losses]}"
          f"\n-PSNR per step, bf16+cl+compile: {[round(v, 3) for v in fast_losses]}")
    assert fast_losses[-1] < fast_losses[0] - 0.05  # it learns (PSNR up)
    # bf16 rounds the prediction to ~2^-9 relative: about 0.02 dB of PSNR; 0.15 dB leaves room
    # for 12 steps of slightly different updates
    assert fast_losses == pytest.approx(eager_losses, abs=0.15)
    conv = next(m for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d)
                and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # fused AdamW kept it


def test_uint8_and_float_batches_give_the_same_compiled_step(gpu):
    lq, gt = uint8_pair(gpu)
    losses = []
    for as_float in (False, True):
        training = make_training(fresh_model(gpu), LoopConfig(steps=2, **GPU_PATH))
        pair = (to_float(lq.cpu()).cuda(), to_float(gt.cpu()).cuda()) if as_float else (lq, gt)
        losses.append([training.step(*pair).item() for _ in range(2)])
    assert losses[0] == pytest.approx(losses[1], abs=1e-4)


def batches_from(gpu, batch=4, size=64):
    """batches(start) for fit: uint8 pairs that depend only on the batch number."""
    def source(start):
        index = start
        while True:
            lq, gt = gpu.smooth_pairs(batch, size, seed=100 + index)
            yield {"lq": gpu.to_uint8(lq), "gt": gpu.to_uint8(gt)}
            index += 1
    return source


def losses_of(folder):
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_fit_on_cuda_checkpoints_and_resumes(gpu, tmp_path):
    """Checkpoints of channels_last CUDA weights load on the CPU; a run resumed from step 3
    (fused-AdamW state and CUDA RNG back on the GPU) follows the uninterrupted one."""
    from trainer.checkpoint import checkpoint_paths, read_tensors

    config = LoopConfig(steps=6, log_every=1, ckpt_every=3, keep_checkpoints=2, amp="bf16",
                        channels_last=True, device="cuda", progress=False)
    whole = fresh_model(gpu)
    fit(whole, batches_from(gpu), config, out_dir=tmp_path / "whole")
    saved = read_tensors(checkpoint_paths(tmp_path / "whole" / "checkpoints", 6)[0])
    for name, value in whole.state_dict().items():
        assert torch.equal(saved[name], value.cpu()), name

    fit(fresh_model(gpu), batches_from(gpu), config, out_dir=tmp_path / "cut")
    for path in checkpoint_paths(tmp_path / "cut" / "checkpoints", 6):
        path.unlink()  # as if killed between the checkpoints of steps 3 and 6
    resumed = fresh_model(gpu)
    result = fit(resumed, batches_from(gpu), config, out_dir=tmp_path / "cut", resume=True)
    assert result.resumed_from == 3 and result.steps == 6
    # cuDNN's backward kernels may sum in another order between runs: close, not bit-identical
    assert losses_of(tmp_path / "cut") == pytest.approx(losses_of(tmp_path / "whole"), abs=1e-3)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert gpu.relative_error(b, a) < 1e-3 if a.norm() > 0 else torch.equal(a, b), name

"""NAFNet and Restormer (small presets) on CUDA: eager float32 and the training path (bf16
autocast + channels_last + torch.compile) against a float64 CPU reference.

Compared: the learnt residual `model(x) - x` (the global skip would otherwise hide errors in
the network) and all parameter gradients of the PSNR loss, each as one relative error
||value - ref|| / ||ref||.

Bounds. float32 with TF32 off is plain IEEE arithmetic: errors stay near 1e-6, bound 1e-4.
bf16 keeps 8 significant bits, a unit roundoff of 2^-9 = 2.0e-3 per rounding; autocast rounds
every convolution's input and weight (accumulating in float32), so for these networks' 10-30
rounded layers in sequence independent errors grow like sqrt(depth) * u, about 1e-2. The
bounds, 3e-2 for the residual and 6e-2 for gradients (which pass every layer twice), are
about 1.5 such spreads; a planted 10% change of one layer's weights must exceed the forward
bound (checked below), so the comparison can fail.
"""
from __future__ import annotations

import copy

import pytest
import torch

from trainer.loop import psnr_loss
from trainer.models import create_model
from trainer.restore import autocast_context

PRESETS = ["nafnet-small", "restormer-tiny"]
FP32_BOUND = 1e-4
BF16_FORWARD_BOUND = 3e-2
BF16_GRAD_BOUND = 6e-2


def forward_backward(model, lq, gt, device, amp="none", channels_last=False, compiled=False,
                     dtype=torch.float32):
    """(residual, flat gradients) of one PSNR-loss pass of a copy of `model`."""
    model = copy.deepcopy(model).to(device, dtype)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model.to(memory_format=torch.channels_last)
    lq = lq.to(device, dtype).contiguous(memory_format=layout)
    gt = gt.to(device, dtype)
    forward = torch.compile(model, dynamic=False) if compiled else model
    with autocast_context(torch.device(device), amp):
        out = forward(lq)
    psnr_loss(out.to(dtype), gt).backward()
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    return (out.to(dtype) - lq).detach(), grads.detach()


def make_case(preset, gpu):
    torch.manual_seed(0)
    model = gpu.randomize(create_model(preset))
    lq, gt = gpu.smooth_pairs(2, 64, seed=1)
    reference = forward_backward(model, lq, gt, "cpu", dtype=torch.float64)
    return model, lq, gt, reference


@pytest.mark.parametrize("preset", PRESETS)
def test_fp32_cuda_matches_float64(preset, gpu, exact_fp32):
    model, lq, gt, (ref_out, ref_grad) = make_case(preset, gpu)
    out, grad = forward_backward(model, lq, gt, "cuda")
    errors = gpu.relative_error(out, ref_out), gpu.relative_error(grad, ref_grad)
    print(f"\n{preset} fp32 eager cuda vs float64: residual {errors[0]:.2e}, grads {errors[1]:.2e}")
    assert max(errors) < FP32_BOUND


@pytest.mark.parametrize("preset", PRESETS)
def test_bf16_channels_last_compile_matches_float64(preset, gpu):
    model, lq, gt, (ref_out, ref_grad) = make_case(preset, gpu)
    results = {}
    for label, compiled in (("eager", False), ("compiled", True)):
        out, grad = forward_backward(model, lq, gt, "cuda", amp="bf16", channels_last=True,
                                     compiled=compiled)
        results[label] = gpu.relative_error(out, ref_out), gpu.relative_error(grad, ref_grad)
        print(f"\n{preset} bf16+channels_last {label} vs float64: residual "
              f"{results[label][0]:.2e}, grads {results[label][1]:.2e}")
    for forward_error, grad_error in results.values():
        assert forward_error < BF16_FORWARD_BOUND
        assert grad_error < BF16_GRAD_BOUND
        assert forward_error > 1e-4  # bf16 really ran: float32 would be ~1e-6


@pytest.mark.parametrize("preset", PRESETS)
def test_planted_error_exceeds_the_bf16_bound(preset, gpu, exact_fp32):
    """The bound can fail: scale the output convolution's weights by 1.10 and compare in
    float32. The residual is linear in them: it moves by 10% (Restormer, bias-free) or by 10%
    of its weight part (NAFNet's ending has a bias; 5% moved it by 2.6e-2 on the H100)."""
    model, lq, gt, (ref_out, _) = make_case(preset, gpu)
    planted = copy.deepcopy(model)
    # the convolution that makes the 3 output channels (NAFNet's ending, Restormer's output)
    conv = [m for m in planted.modules()
            if isinstance(m, torch.nn.Conv2d) and m.out_channels == 3][-1]
    with torch.no_grad():
        conv.weight.mul_(1.10)
    out, _ = forward_backward(planted, lq, gt, "cuda")
    error = gpu.relative_error(out, ref_out)
    print(f"\n{preset} planted 10% change of {tuple(conv.weight.shape)}: residual {error:.2e}")
    assert error > BF16_FORWARD_BOUND

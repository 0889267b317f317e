"""FAIG and CoLoRA on CUDA against the CPU: scores, wrapping, merging, adapter files, and
training only the adapter through the GPU training path."""
from __future__ import annotations

import copy

import pytest
import torch

from trainer.adapters import (BudgetConfig, adapted_layers, apply_plan, load_adapter, make_plan,
                              merge_and_unload, save_adapter, trainable_parameters)
from trainer.faig import faig_scores
from trainer.loop import LoopConfig, make_training
from trainer.models import create_model

FP32_BOUND = 1e-5  # TF32 off: only summation order differs between the devices


@pytest.fixture
def base(gpu):
    torch.manual_seed(0)
    return gpu.randomize(create_model("nafnet-tiny")).eval()


def shifted(model, seed=1, scale=0.05):
    """A stand-in fine-tuned target: every weight moved by a little noise."""
    target = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in target.parameters():
            param.add_(scale * torch.randn(param.shape, generator=generator))
    return target


def task_batches(gpu, count=2, size=32):
    lq, gt = gpu.smooth_pairs(count, size, seed=5)
    return [(lq[i:i + 1], gt[i:i + 1]) for i in range(count)]


@pytest.fixture
def scores(base, gpu, exact_fp32):
    """FAIG scores computed on the GPU; checked against the CPU's in the first test."""
    return faig_scores(copy.deepcopy(base).cuda(), shifted(base).cuda(), task_batches(gpu),
                       steps=4)


def test_faig_on_cuda_matches_cpu(base, gpu, scores):
    cpu = faig_scores(base, shifted(base), task_batches(gpu), steps=4)
    assert scores.keys() == cpu.keys()
    names = sorted(cpu)
    error = gpu.relative_error(torch.tensor([scores[n] for n in names]),
                               torch.tensor([cpu[n] for n in names]))
    assert error < 1e-4  # FAIG sums 4 x 2 backward passes; each is float32-exact to ~1e-6


def lora_layers(model):
    """The low-rank factors of adapter "default", by layer name."""
    return {name: layer.factors["default"] for name, layer in adapted_layers(model).items()
            if "default" in layer.factors}


def adapted(model, plan, device, gpu):
    """`model` copied to `device`, wrapped by `plan`, with the same random nonzero B on every
    device (B starts at zero, which would make any merge check trivially true)."""
    model = apply_plan(copy.deepcopy(model).to(device), plan, BudgetConfig(budget=0.2, seed=3))
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for _, layer in sorted(lora_layers(model).items()):
            layer.lora_B.copy_(0.1 * torch.randn(layer.lora_B.shape, generator=generator))
    return model


def test_wrap_and_merge_on_cuda_match_cpu(base, gpu, scores, exact_fp32):
    plan = make_plan(base, "colora", BudgetConfig(budget=0.2), scores)
    assert plan.lora_ranks, "the plan must adapt some layers"
    on_cpu, on_gpu = adapted(base, plan, "cpu", gpu), adapted(base, plan, "cuda", gpu)
    for name, layer in lora_layers(on_gpu).items():
        assert layer.lora_A.is_cuda
        assert torch.equal(layer.lora_A.cpu(), lora_layers(on_cpu)[name].lora_A)
    x, _ = gpu.smooth_pairs(1, 32, seed=6)
    with torch.no_grad():
        wrapped_cpu, wrapped_gpu = on_cpu(x), on_gpu(x.cuda())
        assert gpu.relative_error(wrapped_gpu - x.cuda(), wrapped_cpu - x) < FP32_BOUND
        merge_and_unload(on_cpu)
        merge_and_unload(on_gpu)
        assert not adapted_layers(on_gpu)
        for (name, a), b in zip(on_cpu.state_dict().items(), on_gpu.state_dict().values()):
            assert gpu.relative_error(b, a) < FP32_BOUND, name
        merged = on_gpu(x.cuda())
        assert gpu.relative_error(merged - x.cuda(), wrapped_gpu - x.cuda()) < FP32_BOUND
    # and the adapter mattered: the merged model is not the base
    assert gpu.relative_error(merged - x.cuda(), base.cuda()(x.cuda()) - x.cuda()) > 1e-3


def test_adapter_trained_on_the_gpu_path_loads_on_cpu(base, gpu, scores, tmp_path):
    plan = make_plan(base, "colora", BudgetConfig(budget=0.2), scores)
    model = apply_plan(copy.deepcopy(base), plan, BudgetConfig(budget=0.2, seed=3))
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    config = LoopConfig(steps=4, amp="bf16", channels_last=True, compile=True, device="cuda",
                        progress=False)
    training = make_training(model, config, trainable_parameters(model))
    lq, gt = gpu.smooth_pairs(4, 32, seed=7)
    losses = [training.step(lq, gt).item() for _ in range(4)]
    assert all(torch.isfinite(torch.tensor(losses)))
    for name, param in model.named_parameters():
        if name in frozen:
            assert torch.equal(param.detach().cpu(), frozen[name]), f"{name} moved"
    assert any(layer.lora_B.abs().max() > 0 for layer in lora_layers(model).values())

    path = save_adapter(tmp_path / "a.safetensors", model)
    on_cpu = load_adapter(copy.deepcopy(base), path)
    x, _ = gpu.smooth_pairs(1, 32, seed=8)
    model.eval()
    with torch.no_grad():
        expected = model(x.cuda().contiguous(memory_format=torch.channels_last)).cpu()
        got = on_cpu(x)
    # the same weights bit for bit (the adapter file is exact); eager float32 on both devices
    assert gpu.relative_error(got - x, expected - x) < FP32_BOUND

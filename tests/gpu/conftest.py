"""GPU tests: the CUDA paths of the trainer (bf16 autocast, channels_last, torch.compile, fused
AdamW, uint8 batches scaled on the device, restore, CoLoRA, the pretrain command).

They run only where torch sees a CUDA device. Elsewhere (CI, the CPU development machines) the
session-scoped autouse fixture below skips every test of this folder before any other fixture
(shard building, model files) is set up, so the folder costs well under a second.

Run on a GPU machine from the repository root:  PYTHONPATH=. python3 -m pytest -q tests/gpu
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def cuda_only():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (tests/gpu runs on the GPU machine only)")


@pytest.fixture
def exact_fp32():
    """Plain IEEE float32 on the GPU for the duration of a test: cuDNN convolutions use TF32
    (10-bit mantissa) by default, which would make "fp32 on CUDA vs CPU" a TF32 comparison."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def randomize(model: torch.nn.Module, seed: int = 0, spread: float = 0.2) -> torch.nn.Module:
    """Move every 1-D parameter (norm scales/shifts, biases, NAFNet's beta/gamma, Restormer's
    temperatures) by N(0, spread): NAFNet's residual scales start at zero, which makes a fresh
    model an identity whose outputs would agree whatever the precision."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 1:
                noise = spread * torch.randn(param.shape, generator=generator)
                param.add_(noise.to(param.device, param.dtype))
    return model


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """||value - reference|| / ||reference|| in float64 on the CPU; NaN never passes a bound."""
    value = value.detach().double().cpu()
    reference = reference.detach().double().cpu()
    error = (value - reference).norm() / reference.norm()
    return float("inf") if not torch.isfinite(error) else float(error)


def smooth_pairs(count: int, size: int, seed: int = 0, sigma: float = 0.1):
    """(lq, gt) float32 CPU tensors: low-pass random images and a noisy copy."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, size // 8, size // 8, generator=generator)
    gt = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic",
                                         align_corners=False).clamp(0, 1)
    lq = (gt + sigma * torch.randn(gt.shape, generator=generator)).clamp(0, 1)
    return lq, gt


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().clamp(0, 255).to(torch.uint8)


def build_shards(out, count: int, patch: int, shard_size: int):
    """`degrade build-shards` of `count` PROD pairs of patch x patch into `out` (4 workers)."""
    from click.testing import CliRunner

    from degrade.cli import main as degrade_main

    result = CliRunner().invoke(degrade_main, ["build-shards", "--out", str(out),
                                               "--count", str(count), "--patch", str(patch),
                                               "--shard-size", str(shard_size),
                                               "--workers", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def gpu():
    """The helpers above, for the test modules (importlib mode: conftest is not importable)."""
    return SimpleNamespace(randomize=randomize, relative_error=relative_error,
                           smooth_pairs=smooth_pairs, to_uint8=to_uint8,
                           build_shards=build_shards)

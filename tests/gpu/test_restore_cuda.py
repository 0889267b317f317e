"""trainer.restore on CUDA: whole-image and tiled inference, float32 and bf16 autocast, against
the CPU result; a model file loaded for inference onto the GPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.checkpoint import save_model
from trainer.models import create_model
from trainer.restore import load_for_inference, restore_image


def levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int))


@pytest.fixture
def model(gpu):
    torch.manual_seed(0)
    return gpu.randomize(create_model("nafnet-small")).eval()


@pytest.fixture
def image():
    return (np.random.default_rng(0).random((80, 72, 3)) * 255).astype(np.uint8)


def test_fp32_cuda_matches_cpu(model, image, exact_fp32):
    cpu = restore_image(model, image, "cpu")
    gpu_out = restore_image(model.to("cuda"), image, "cuda")
    # both round the same float to uint8; a value within 1e-6 of a half level may round apart
    assert levels(gpu_out, cpu).max() <= 1 and levels(gpu_out, cpu).mean() < 1e-3


@pytest.mark.parametrize("tile", [None, 48])
def test_bf16_cuda_close_to_cpu(model, image, tile):
    cpu = restore_image(model, image, "cpu", tile=tile, overlap=16)
    gpu_out = restore_image(model.to("cuda"), image, "cuda", tile=tile, overlap=16, amp="bf16")
    diff = levels(gpu_out, cpu)
    print(f"\nbf16 cuda vs fp32 cpu, tile {tile}: mean {diff.mean():.3f}, max {diff.max()} levels")
    assert gpu_out.shape == image.shape and gpu_out.dtype == np.uint8
    # bf16 keeps 8 significant bits: a value near 1 moves by up to 2^-9 * 255 = 0.5 level per
    # rounding, a few roundings deep: a mean under one level, no pixel off by more than 8
    assert diff.mean() < 1.0 and diff.max() <= 8


class LocalNet(torch.nn.Module):
    """Two 3x3 convolutions and a global residual: receptive radius 2, so blended tiles with
    overlap >= 8 reproduce the whole-image output exactly (up to float rounding)."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.head = torch.nn.Conv2d(3, width, 3, padding=1)
        self.tail = torch.nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x):
        return x + self.tail(torch.relu(self.head(x)))


@pytest.mark.parametrize("height,width", [(70, 90), (31, 100)])
def test_tiled_cuda_matches_whole_image(height, width, exact_fp32):
    """The tile blending (float64 accumulators on the device) is exact on CUDA too. (With
    NAFNet tiles only come close: its channel attention averages over the whole tile.)"""
    from trainer.restore import restore_tensor

    torch.manual_seed(0)
    model = LocalNet().cuda().eval()
    x = torch.rand(1, 3, height, width, device="cuda")
    whole = restore_tensor(model, x)
    tiled = restore_tensor(model, x, tile=32, overlap=16, tile_batch=3)
    assert tiled.is_cuda and tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1e-5


def test_load_for_inference_on_cuda(model, image, tmp_path):
    path = save_model(tmp_path / "m.safetensors", model, {"preset": "nafnet-small"})
    loaded, metadata = load_for_inference(path, device="cuda")
    assert metadata["preset"] == "nafnet-small" and not loaded.training
    assert all(p.is_cuda for p in loaded.parameters())
    expected = restore_image(model.to("cuda"), image, "cuda")
    assert np.array_equal(restore_image(loaded, image, "cuda"), expected)

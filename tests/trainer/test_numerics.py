"""Subnormal floats are flushed once training or inference starts (x86 runs them in microcode)."""
import torch

from trainer.loop import LoopConfig, make_training
from trainer.restore import restore_image


def _subnormal_survives() -> bool:
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    return bool((tiny * 1.0).item() != 0.0)


def test_training_and_inference_flush_subnormals():
    torch.set_flush_denormal(False)
    assert _subnormal_survives()
    make_training(torch.nn.Conv2d(3, 3, 3, padding=1), LoopConfig(steps=1, device="cpu"))
    assert not _subnormal_survives()
    torch.set_flush_denormal(False)
    import numpy as np
    restore_image(torch.nn.Conv2d(3, 3, 3, padding=1), np.zeros((8, 8, 3), np.uint8))
    assert not _subnormal_survives()

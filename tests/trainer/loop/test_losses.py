"""The losses against their closed forms."""
import pytest
import torch

from trainer.loop import l1_loss, psnr_loss


def test_psnr_loss_is_minus_psnr():
    torch.manual_seed(0)
    target = torch.rand(3, 3, 8, 8)
    pred = target + 0.05 * torch.randn_like(target)
    mse = ((pred - target) ** 2).mean(dim=(1, 2, 3))
    expected = -(10 * torch.log10(1 / (mse + 1e-8))).mean()
    assert psnr_loss(pred, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert l1_loss(pred, target).item() == pytest.approx((pred - target).abs().mean().item())

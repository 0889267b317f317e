"""One optimizer update: parameter subsets, clipping, uint8 batches."""
import pytest
import torch

from trainer.loop import FitError, LoopConfig, fit, make_training


def test_params_must_belong_to_the_model(conv_net, make_batches):
    with pytest.raises(FitError, match="model's own parameters"):
        fit(conv_net(), make_batches(0), LoopConfig(steps=1, progress=False),
            params=[torch.nn.Parameter(torch.zeros(1))])


def test_gradient_clipping_bounds_the_gradient(conv_net, make_batches):
    torch.manual_seed(0)
    training = make_training(conv_net(), LoopConfig(steps=1, grad_clip=0.01, progress=False))
    norms = []
    training.optimizer.register_step_pre_hook(lambda *_: norms.append(
        torch.norm(torch.stack([p.grad.norm() for p in training.params])).item()))
    batch = next(iter(make_batches(0)(0)))
    training.step(batch["lq"], batch["gt"])
    assert 0 < norms[0] <= 0.01 + 1e-6


def test_uint8_batches_train_like_their_float_scaling(conv_net):
    """The reader hands uint8 batches to the device; the step must see exactly x / 255."""
    from pipelines.batching import to_float
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

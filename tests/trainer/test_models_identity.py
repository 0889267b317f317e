"""start_at_identity: a fresh model returns its input; pre-training from scratch starts there."""
import pytest
import torch

from trainer.models import create_model, start_at_identity

PRESETS = ("nafnet-tiny", "restormer-tiny")  # one per architecture with a global residual


@pytest.mark.parametrize("preset", PRESETS)
def test_a_fresh_model_started_at_identity_returns_its_input(preset):
    torch.manual_seed(0)
    model = create_model(preset).eval()
    image = torch.rand(2, 3, 17, 23)
    with torch.no_grad():
        assert (model(image) - image).abs().max() > 1e-2  # the default init is far from it
        assert start_at_identity(model) is True
        assert torch.equal(model(image), image)


def test_a_model_without_a_residual_output_is_left_alone(conv_net):
    torch.manual_seed(0)
    model = conv_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert start_at_identity(model) is False
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_pretraining_from_scratch_starts_at_the_identity(shard_dir, tmp_path):
    from trainer.checkpoint import load_model
    from trainer.pretrain import PretrainConfig, pretrain

    result = pretrain(PretrainConfig(shards=shard_dir, model="nafnet-tiny", steps=1, batch=2,
                                     patch=32, lr=1e-7, out=tmp_path / "run", workers=0,
                                     device="cpu", progress=False, log_every=1, val_every=1,
                                     ckpt_every=1))
    model, _ = load_model(result.model_path, "cpu")
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (model.eval()(image) - image).abs().max() < 1e-4  # one step of lr 1e-7 from it

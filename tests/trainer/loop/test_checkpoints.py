"""What a run's checkpoints hold: the trained subset's weights, a weights_only-safe state."""
import pytest
import torch

from trainer.checkpoint import CHECKPOINT_DIR, latest_checkpoint, read_metadata, SUBSET_FORMAT
from trainer import checkpoint as ckpt
from trainer.loop import LoopConfig, fit, make_training
from trainer.loop.checkpoints import RunProgress, train_state, weight_tensors
from trainer.loop.resume import restore_run


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


def test_the_state_loads_weights_only_and_gives_the_run_back(conv_net, tmp_path):
    torch.manual_seed(0)
    training = make_training(conv_net(), LoopConfig(steps=3, progress=False))
    progress = RunProgress(step=2, loss_sum=1.5, loss_count=3, best_psnr=30.0)
    ckpt.save_checkpoint(tmp_path, 2, weight_tensors(training.model, None), {},
                         train_state(training, progress))
    state = ckpt.load_train_state(ckpt.checkpoint_paths(tmp_path, 2)[1])  # weights_only=True
    assert state["progress"] == {"loss_sum": 1.5, "loss_count": 3, "best_psnr": 30.0,
                                 "last_loss": None}
    assert state["step"] == 2 and state["config"]["betas"] == [0.9, 0.9]
    fresh, restored = make_training(conv_net(), LoopConfig(steps=3, progress=False)), RunProgress()
    assert restore_run(fresh, restored, tmp_path, params_given=False) == 2
    assert restored == progress
    assert all(torch.equal(a, b) for a, b in zip(fresh.model.parameters(),
                                                  training.model.parameters()))

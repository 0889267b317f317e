"""Training: the loss, a fixed-seed training lowers it, and resume continues exactly."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from degrade.errors import ConfigError
from trainer import checkpoint as ckpt
from trainer.estimator.files import load_estimator
from trainer.estimator.model import DegradationEstimator
from trainer.estimator.training import (EstimatorTrainConfig, EstimatorTrainError, batch_source,
                                        estimator_loss, model_input, shard_ops, train_estimator)


def test_the_level_loss_counts_only_present_ops():
    logits = torch.zeros(2, 2)
    presence = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    target = torch.tensor([[0.5, 0.9], [0.3, 0.3]])
    levels = torch.tensor([[0.25, 0.0], [0.0, 1.0]])
    total, bce, l1 = estimator_loss(logits, levels, presence, target, level_weight=2.0)
    assert bce.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert l1.item() == pytest.approx(0.25)  # only the one present op
    assert total.item() == pytest.approx(bce.item() + 0.5)


def test_a_fixed_seed_training_of_a_few_steps_lowers_the_loss(prod_shards):
    config = EstimatorTrainConfig(str(prod_shards), "unused", batch=8, patch=32)
    lq, presence, level = next(batch_source(config, shard_ops(str(prod_shards)))(0))
    lq = model_input(lq, "cpu")
    torch.manual_seed(0)
    model = DegradationEstimator(shard_ops(str(prod_shards)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        total, _, _ = estimator_loss(*model(lq), presence, level, 2.0)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.8 * losses[0]


def test_batches_are_grid_aligned_crops_with_record_labels(prod_shards):
    config = EstimatorTrainConfig(str(prod_shards), "unused", batch=4, patch=16)
    lq, presence, level = next(batch_source(config, shard_ops(str(prod_shards)))(0))
    assert lq.shape == (4, 3, 16, 16) and presence.shape == level.shape == (4, 7)
    assert lq.dtype == torch.uint8  # 8-bit until model_input: x / 255
    assert torch.equal(model_input(lq, "cpu"), lq.double().div(255).float())
    assert (presence.sum(dim=1) >= 1).all()  # min_length 1: every chain holds an op


def test_channels_last_on_the_cpu_changes_the_layout_and_not_the_estimate():
    from trainer.estimator.model import DegradationEstimator
    from trainer.estimator.training import memory_format

    lq = torch.randint(0, 256, (2, 3, 32, 24), dtype=torch.uint8,
                       generator=torch.Generator().manual_seed(0))
    x = model_input(lq, "cpu")
    assert memory_format("cpu") is torch.channels_last
    assert x.is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(0)
    model = DegradationEstimator(["rain", "jpeg"], stem=8, phase=4, trunk=(8, 16), hidden=32)
    model.eval()
    with torch.no_grad():
        plain = model(x.contiguous())
        model.to(memory_format=torch.channels_last)
        last = model(x)
    for a, b in zip(plain, last):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_labels_derived_in_loader_workers_are_the_records_labels(prod_shards):
    import numpy as np

    from pipelines.reader import train_loader
    from trainer.estimator.labels import BatchLabeller, batch_labels

    ops = shard_ops(str(prod_shards))
    loader = train_loader(str(prod_shards), 4, 0, 2, 0, as_uint8=True,
                          batch_map=BatchLabeller(ops))
    for batch, _ in zip(loader, range(3)):
        presence, level = batch_labels(batch["record"], ops)
        assert np.array_equal(batch["presence"], presence)
        assert np.array_equal(batch["level"], level) and presence.any()


@pytest.mark.parametrize("share,count,settable,low,top", [
    ("wide_share", 2, ("gaussian_noise", "jpeg"), 0.09, 3.0),  # from the floor up to the span
    ("single_share", 4, None, 0.0, 1.0)])  # one op of the pool, inside the sampled range
def test_a_share_of_each_batch_is_redrawn_as_one_op_alone(prod_shards, share, count, settable,
                                                          low, top):
    ops = shard_ops(str(prod_shards))
    shares = {"wide_share": 0.0, "single_share": 0.0}
    config = EstimatorTrainConfig(str(prod_shards), "unused", batch=8, patch=32,
                                  **dict(shares, **{share: count / 8}))
    plain = EstimatorTrainConfig(str(prod_shards), "unused", batch=8, patch=32, **shares)
    lq, presence, level = next(batch_source(config, ops)(0))
    lq_plain, presence_plain, _ = next(batch_source(plain, ops)(0))
    redrawn = [i for i in range(8) if not torch.equal(lq[i], lq_plain[i])]
    assert config.wide_count + config.single_count == count and len(redrawn) == count
    for i in redrawn:  # one op alone, at a level from `low` up to `top`
        assert presence[i].sum() == 1 and low <= level[i].max() <= top
        assert settable is None or ops[int(presence[i].argmax())] in settable
    kept = [i for i in range(8) if i not in redrawn]
    assert torch.equal(presence[kept], presence_plain[kept])
    again = next(batch_source(config, ops)(0))  # the same batch for the same seed and step
    assert torch.equal(again[0], lq) and torch.equal(again[2], level)


def test_runs_from_before_the_wide_redraws_still_resume(tmp_path, prod_shards, trained):
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    saved = json.loads((old / "run.json").read_text())
    for key in ("level_span", "wide_share", "single_share"):
        saved.pop(key, None)
    (old / "run.json").write_text(json.dumps(saved))
    (old / "model.safetensors").unlink()
    legacy = EstimatorTrainConfig(str(prod_shards), str(old), steps=4, batch=4, patch=32,
                                  ckpt_every=2, progress=False, level_span=1.0, wide_share=0.0,
                                  single_share=0.0, head_crops=0)
    train_estimator(legacy, resume=True)  # no "started with other options"
    with pytest.raises(EstimatorTrainError, match="level_span"):
        train_estimator(EstimatorTrainConfig(str(prod_shards), str(old), steps=4, batch=4,
                                             patch=32, progress=False, wide_share=0.0),
                        resume=True)


def _weights(path):
    return ckpt.read_tensors(ckpt.resolve_model_path(path))


def test_run_folder_contents_and_exact_resume(tmp_path, prod_shards, trained):
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [4] and {"loss", "bce", "level_l1"} <= set(records[0])
    model, metadata = load_estimator(trained)
    assert metadata["training"]["patch"] == 32 and model.ops[0] == "gaussian_noise"
    assert metadata["training"]["head_refit"]["crops"] == 8
    # interrupt after the step-2 checkpoint: drop what came later, then resume
    resumed = tmp_path / "resumed"
    shutil.copytree(trained, resumed)
    (resumed / "model.safetensors").unlink()
    for path in ckpt.checkpoint_paths(resumed / "checkpoints", 4):
        path.unlink()
    config = EstimatorTrainConfig(str(prod_shards), str(resumed), steps=4, batch=4, patch=32,
                                  ckpt_every=2, progress=False, head_crops=8)
    train_estimator(config, resume=True)
    finished = train_estimator(config, resume=True)  # nothing left but the head refit
    assert finished.last_loss == pytest.approx(records[-1]["loss"])
    final, again = _weights(trained), _weights(resumed)
    assert all(torch.equal(final[k], again[k]) for k in final)


def test_a_run_started_before_a_design_change_resumes_with_its_own_architecture(
        tmp_path, prod_shards, monkeypatch):
    import trainer.estimator.training as training

    class BeforeTheDirectionProfile(DegradationEstimator):
        def __init__(self, ops, **options):
            super().__init__(ops, direction_lags=(), **options)

    config = EstimatorTrainConfig(str(prod_shards), str(tmp_path / "run"), steps=4, batch=4,
                                  patch=32, ckpt_every=2, progress=False, head_crops=0)
    monkeypatch.setattr(training, "DegradationEstimator", BeforeTheDirectionProfile)
    train_estimator(config)
    monkeypatch.undo()
    (tmp_path / "run" / "model.safetensors").unlink()  # stopped after its last checkpoint
    train_estimator(config, resume=True)  # today's design would not load these weights
    model, _ = load_estimator(tmp_path / "run")
    assert model.direction_lags == () and model.config["direction_lags"] == []


def test_refuses_to_mix_runs_and_to_resume_other_options(prod_shards, trained):
    base = dict(steps=4, batch=4, patch=32, ckpt_every=2, progress=False)
    with pytest.raises(EstimatorTrainError, match="already holds"):
        train_estimator(EstimatorTrainConfig(str(prod_shards), str(trained), **base))
    with pytest.raises(EstimatorTrainError, match="batch"):
        train_estimator(EstimatorTrainConfig(str(prod_shards), str(trained), **dict(base, batch=2)),
                        resume=True)


@pytest.mark.parametrize("overrides, error, message", [
    ({"patch": 20}, ConfigError, "patch: 20 must be a multiple of 8"),
    ({"patch": 64}, EstimatorTrainError, "smaller than the training patch"),
    ({"steps": 0}, ConfigError, "steps: must be at least 1"),
    ({"wide_share": 1.5}, ConfigError, "wide_share: must be in"),
    ({"single_share": -0.1}, ConfigError, "single_share: must be in"),
    ({"head_camera_share": 1.5}, ConfigError, "head_camera_share: must be in"),
    ({"camera_share": -0.5}, ConfigError, "camera_share: must be in"),
    ({"level_span": 0.5}, ConfigError, "level_span: must be at least 1"),
    ({"head_crops": -1}, ConfigError, "head_crops: must be >= 0")])
def test_bad_options_are_named(tmp_path, prod_shards, overrides, error, message):
    config = EstimatorTrainConfig(str(prod_shards), str(tmp_path / "run"), progress=False,
                                  **overrides)
    with pytest.raises(error, match=message):
        train_estimator(config)


def test_a_folder_without_manifest_is_refused(tmp_path):
    with pytest.raises(EstimatorTrainError, match="no manifest.json"):
        train_estimator(EstimatorTrainConfig(str(tmp_path), str(tmp_path / "run")))


def test_the_family_logits_join_the_presence_loss():
    logits = torch.zeros(2, 3)
    presence = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    families = torch.tensor([[20.0], [-20.0]])  # right and sure: adds almost nothing
    plain = estimator_loss(logits, torch.zeros(2, 3), presence, torch.zeros(2, 3), 2.0)
    joined = estimator_loss(logits, torch.zeros(2, 3), presence, torch.zeros(2, 3), 2.0,
                            families, torch.tensor([[1.0], [0.0]]))
    # one mean over 3 op logits at log 2 and 1 family logit at ~0 per image
    assert joined[1].item() == pytest.approx(plain[1].item() * 3 / 4, rel=1e-6)
    wrong = estimator_loss(logits, torch.zeros(2, 3), presence, torch.zeros(2, 3), 2.0,
                           families, torch.tensor([[0.0], [1.0]]))
    assert wrong[1].item() > 4 * plain[1].item()
    assert joined[2].item() == plain[2].item()  # the level term is the ops' alone


def test_a_record_it_cannot_label_stops_training_with_one_line_from_any_worker(
        prod_shards, monkeypatch):
    import pipelines.reader
    from trainer.estimator.labels import BatchLabeller, LabelError

    ops = shard_ops(str(prod_shards))
    labeller = BatchLabeller(ops)
    bad = {"record": [{"ops": [{"name": "no_such_op", "params": {}}]}]}
    assert labeller(bad)["label_error"] == "the record names an unknown op 'no_such_op'"
    # the labeller runs in the loader's workers: its batch carries the error to the trainer
    batch = labeller(dict(bad, lq=torch.zeros(1, 3, 16, 16, dtype=torch.uint8),
                          gt=torch.zeros(1, 3, 16, 16, dtype=torch.uint8)))
    monkeypatch.setattr(pipelines.reader, "train_loader", lambda *args, **kwargs: [batch])
    config = EstimatorTrainConfig(str(prod_shards), "unused", batch=1, patch=16)
    with pytest.raises(LabelError) as caught:
        next(batch_source(config, ops)(0))
    assert str(caught.value) == "the record names an unknown op 'no_such_op'"


def test_the_head_refits_batches_hold_a_camera_like_share(prod_shards, trained):
    ops = shard_ops(str(prod_shards))
    shares = {"wide_share": 0.0, "single_share": 0.0}
    config = EstimatorTrainConfig(str(prod_shards), "unused", batch=8, patch=32, **shares)
    lq, presence, _ = next(batch_source(config, ops, camera_share=0.5)(0))
    lq_plain, _, _ = next(batch_source(config, ops)(0))
    redrawn = [i for i in range(8) if not torch.equal(lq[i], lq_plain[i])]
    assert len(redrawn) == 4
    for i in redrawn:  # Gaussian noise then JPEG, or JPEG alone, labelled with what it holds
        assert sorted(ops[j] for j in np.flatnonzero(presence[i])) in (
            ["gaussian_noise", "jpeg"], ["jpeg"])
    _, metadata = load_estimator(trained)
    assert metadata["training"]["head_refit"]["camera_share"] == 0.0  # the default, recorded


def test_the_steps_draw_the_configured_camera_share_and_a_resume_keeps_it(
        prod_shards, tmp_path, monkeypatch):
    import trainer.estimator.training as training

    shares, real = [], training.batch_source

    def spy(config, ops, camera_share=0.0):
        shares.append(camera_share)
        return real(config, ops, camera_share)

    monkeypatch.setattr(training, "batch_source", spy)
    base = dict(steps=1, batch=2, patch=32, head_crops=0, progress=False)
    out = tmp_path / "run"
    train_estimator(EstimatorTrainConfig(str(prod_shards), str(out), camera_share=0.5, **base))
    assert shares == [0.5]
    assert json.loads((out / "run.json").read_text())["camera_share"] == 0.5
    with pytest.raises(EstimatorTrainError, match="other camera_share"):
        train_estimator(EstimatorTrainConfig(str(prod_shards), str(out), **base), resume=True)

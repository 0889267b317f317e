"""The head refit: it lowers the held-back loss of a poor head, keeps a head it cannot improve,
and reads features in inference mode."""
from __future__ import annotations

import torch

from trainer.estimator.headfit import HeadFit, collect_features, refit_head
from trainer.estimator.model import DegradationEstimator
from trainer.estimator.training import estimator_loss


def _small_model():
    torch.manual_seed(0)
    return DegradationEstimator(["jpeg", "rain"], stem=8, phase=4, trunk=(8, 16), hidden=16)


def _features_with_labels(model, count=512):
    """Features whose first column decides presence of op 0 and whose second is its level:
    a head can learn both, a random one has not."""
    width = model.head[0].in_features
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(count, width, generator=generator)
    presence = torch.zeros(count, 2)
    presence[:, 0] = (features[:, 0] > 0).float()
    level = torch.zeros(count, 2)
    level[:, 0] = presence[:, 0] * torch.sigmoid(features[:, 1])
    return features, presence, level


def test_a_poor_head_is_refitted_to_a_lower_held_back_loss():
    model = _small_model()
    features, presence, level = _features_with_labels(model)
    before = estimator_loss(*model.read_head(model.head(features)), presence, level, 2.0)[0]
    report = refit_head(model, features, presence, level, HeadFit(epochs=30, lr=1e-2))
    after = estimator_loss(*model.read_head(model.head(features)), presence, level, 2.0)[0]
    assert report["best_epoch"] > 0 and report["crops"] == 512
    assert report["validation_loss_after"] < 0.6 * report["validation_loss_before"]
    assert after.item() < 0.6 * before.item()  # the model's own head now holds the fit


def test_a_head_it_cannot_improve_is_kept():
    model = _small_model()
    features, presence, level = _features_with_labels(model)
    kept = {k: v.clone() for k, v in model.head.state_dict().items()}
    report = refit_head(model, features, presence, level, HeadFit(epochs=0))
    assert report["best_epoch"] == 0
    assert all(torch.equal(kept[k], v) for k, v in model.head.state_dict().items())


def test_features_come_from_the_model_in_inference_mode():
    model = _small_model().train()
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)  # as batch_source's
    batches = iter([(images[:4], torch.ones(4, 2), torch.zeros(4, 2)),
                    (images[4:], torch.zeros(2, 2), torch.ones(2, 2))])
    features, presence, level = collect_features(model, batches, 5)
    assert features.shape == (5, model.head[0].in_features) and not model.training
    assert presence[:4].eq(1).all() and presence[4].eq(0).all() and level[4].eq(1).all()
    with torch.no_grad():
        assert torch.allclose(features, model.features(images[:5].float() / 255), atol=1e-5)

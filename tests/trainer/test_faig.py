import copy

import numpy as np
import pytest
import torch
from torch import nn

from trainer.faig import (average_scores, elementwise_faig, faig_report, faig_scores,
                          filter_scores, kind_table, scores_from_report, summarize)


def mse(pred, gt):
    return (pred - gt).pow(2).mean()


def _shifted(model, names, scale=0.05, seed=2):
    target = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in target.named_parameters():
            if any(name.startswith(n) for n in names):
                param.add_(scale * torch.randn(param.shape, generator=generator))
    return target


def test_zero_when_base_equals_target(toy, images):
    scores = faig_scores(toy, copy.deepcopy(toy), [images], steps=3, loss_fn=mse)
    assert scores.keys() == dict(toy.named_parameters()).keys()
    assert all(v == 0.0 for v in scores.values())


def test_concentrates_in_the_only_layer_that_differs(toy, images):
    target = _shifted(toy, ["mid.dense"])
    scores = faig_scores(toy, target, [images], steps=4, loss_fn=mse)
    assert scores["mid.dense.weight"] > 0
    assert all(v == 0.0 for n, v in scores.items() if n != "mid.dense.weight")
    summary = summarize(toy, scores)
    assert [b["score"] > 0 for b in summary["blocks"]] == [False, True, False]
    assert summary["blocks"][1]["kinds"]["conv"] == pytest.approx(scores["mid.dense.weight"])


def test_batching_does_not_change_scores(toy, images):
    target = _shifted(toy, [""])
    lq, gt = images
    whole = faig_scores(toy, target, [(lq, gt)], steps=3, loss_fn=mse)
    split = faig_scores(toy, target, [(lq[:1], gt[:1]), (lq[1:], gt[1:])], steps=3, loss_fn=mse)
    for name in whole:
        assert split[name] == pytest.approx(whole[name], rel=1e-4, abs=1e-12)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 3, 1)

    def forward(self, x):
        return x + self.b(torch.tanh(self.a(x)))


def _slow_faig(base, target, lq, gt, steps):
    """Independent reference in float64: numerical central differences of the loss, parameter
    element by element, along the same straight path, summed per filter with numpy."""
    names = [n for n, _ in base.named_parameters()]
    theta_b = {n: p.detach().double().numpy() for n, p in base.named_parameters()}
    theta_t = {n: p.detach().double().numpy() for n, p in target.named_parameters()}
    probe = copy.deepcopy(base).double()
    params = dict(probe.named_parameters())
    x, y = lq.double(), gt.double()

    def loss():
        with torch.no_grad():
            return float((probe(x) - y).pow(2).mean())

    out = {}
    for name in names:
        grad_sum = np.zeros_like(theta_b[name])
        for t in range(steps):
            beta = t / steps
            with torch.no_grad():
                for n in names:
                    params[n].copy_(torch.from_numpy(beta * theta_b[n] + (1 - beta) * theta_t[n]))
            flat = params[name].data.view(-1)
            for i in range(flat.numel()):
                keep = float(flat[i])
                flat[i] = keep + 1e-6
                up = loss()
                flat[i] = keep - 1e-6
                down = loss()
                flat[i] = keep
                grad_sum.reshape(-1)[i] += (up - down) / 2e-6
        element = np.abs((theta_b[name] - theta_t[name]) * grad_sum / steps)
        out[name] = element.reshape(element.shape[0], -1).sum(axis=1)
    return out


def test_matches_slow_numerical_reference():
    torch.manual_seed(4)
    base = Tiny()
    target = _shifted(base, [""], scale=0.3, seed=9)
    generator = torch.Generator().manual_seed(5)
    gt = torch.rand(2, 3, 5, 5, generator=generator)
    lq = gt + 0.2 * torch.randn(2, 3, 5, 5, generator=generator)
    fast = filter_scores(elementwise_faig(copy.deepcopy(base).double(), copy.deepcopy(target).double(),
                                          [(lq.double(), gt.double())],
                                          steps=5, loss_fn=mse))
    slow = _slow_faig(base, target, lq, gt, steps=5)
    for name in slow:
        assert np.allclose(fast[name].numpy(), slow[name], rtol=1e-5, atol=1e-9), name


def test_report_round_trip_and_table(toy, images):
    blur = faig_scores(toy, _shifted(toy, ["enc"]), [images], steps=2, loss_fn=mse)
    rain = faig_scores(toy, _shifted(toy, ["dec"]), [images], steps=2, loss_fn=mse)
    report = faig_report(toy, {"blur": blur, "rain": rain}, steps=2)
    averaged = average_scores({"blur": blur, "rain": rain})
    assert scores_from_report(report) == pytest.approx(averaged)
    assert report["average"]["total"] == pytest.approx((sum(blur.values()) + sum(rain.values())) / 2)
    assert len(report["tasks"]["blur"]["blocks"]) == 3
    assert "per param" in kind_table(report["average"])
    with pytest.raises(ValueError, match="faig.json"):
        scores_from_report({"steps": 2})


def test_mismatched_models_are_refused(toy, images):
    with pytest.raises(ValueError, match="not in both models"):
        faig_scores(toy, Tiny(), [images], steps=1)
    with pytest.raises(ValueError, match="steps"):
        faig_scores(toy, toy, [images], steps=0)

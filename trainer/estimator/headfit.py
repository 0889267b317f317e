"""The estimator's last training phase: its head refitted on frozen features.

The CNN learns its features and its head together in a few thousand noisy steps, with batch
norm in training mode; inference runs batch norm on its running statistics. Once the steps are
done, the pooled features of a few thousand training crops (another pass over the shards) are
computed once, in inference mode, and the small head is fine-tuned on them for many epochs (cheap: the features
are fixed), keeping the epoch with the lowest loss on a held-back share of those crops. A head
that does no better there than the trained one is kept as it was.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class HeadFit:
    crops: int = 8192
    epochs: int = 60
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    validation_share: float = 0.125
    level_weight: float = 2.0
    seed: int = 0


@torch.no_grad()
def collect_features(model, batches: Iterator, count: int, device: str = "cpu",
                     progress: bool = False):
    """(features, presence, level) tensors of the first `count` images of `batches` (uint8
    lq, presence, level: training's batch_source), features from the model in inference mode."""
    from tqdm import tqdm

    from trainer.estimator.training import model_input

    model.eval()
    features, presence, level, seen = [], [], [], 0
    with tqdm(total=count, unit="img", desc="head features", disable=not progress,
              dynamic_ncols=True) as bar:
        while seen < count:
            lq, batch_presence, batch_level = next(batches)
            take = min(count - seen, lq.shape[0])
            features.append(model.features(model_input(lq[:take], device)).cpu())
            presence.append(batch_presence[:take])
            level.append(batch_level[:take])
            seen += take
            bar.update(take)
    return torch.cat(features), torch.cat(presence), torch.cat(level)


def _loss(model, head, features, presence, level, weight: float) -> torch.Tensor:
    from trainer.estimator.training import estimator_loss

    output = head(features)
    return estimator_loss(*model.read_head(output), presence, level, weight,
                          model.read_families(output), model.family_presence(presence))[0]


def refit_head(model, features, presence, level, fit: HeadFit) -> dict:
    """Fine-tune `model.head` in place on precomputed features (see the module docstring);
    returns {"crops", "epochs", "validation_loss_before", "validation_loss_after",
    "best_epoch"} (best_epoch 0: the trained head was kept). Runs where the head is (the
    features are collected on the CPU)."""
    device = next(model.head.parameters()).device
    features, presence, level = (t.to(device) for t in (features, presence, level))
    generator = torch.Generator().manual_seed(fit.seed)
    order = torch.randperm(features.shape[0], generator=generator).to(device)
    held = max(1, int(round(fit.validation_share * features.shape[0])))
    train, valid = order[held:], order[:held]
    head = copy.deepcopy(model.head).train()
    optimizer = torch.optim.AdamW(head.parameters(), lr=fit.lr, weight_decay=fit.weight_decay)

    def validation_loss() -> float:
        with torch.no_grad():
            return float(_loss(model, head, features[valid], presence[valid], level[valid],
                               fit.level_weight))

    before = best = validation_loss()
    best_state, best_epoch = copy.deepcopy(head.state_dict()), 0
    for epoch in range(1, fit.epochs + 1):
        shuffled = train[torch.randperm(train.numel(), generator=generator).to(device)]
        for start in range(0, shuffled.numel(), fit.batch):
            rows = shuffled[start:start + fit.batch]
            loss = _loss(model, head, features[rows], presence[rows], level[rows],
                         fit.level_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        current = validation_loss()
        if current < best:
            best, best_state, best_epoch = current, copy.deepcopy(head.state_dict()), epoch
    model.head.load_state_dict(best_state)
    return {"crops": int(features.shape[0]), "epochs": fit.epochs,
            "validation_loss_before": before, "validation_loss_after": best,
            "best_epoch": best_epoch}

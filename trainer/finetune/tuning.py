"""Fine-tuning a pre-trained model with a registered adaptation method, through
trainer.loop.fit with only the method's trainable parameters; and the brief full fine-tune that
gives FAIG its target model."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from torch import nn

from trainer.adapters import AdapterPlan, apply_plan, make_plan, method_config, trainable_parameters
from trainer.finetune.base import AdaptError
from trainer.finetune.data import Pair, pair_batches


@dataclass(frozen=True)
class TrainConfig:
    """One optimisation run: steps of `batch` random `patch` crops from the training pairs."""

    steps: int = 1000
    batch: int = 8
    patch: int = 128
    lr: float = 2e-4
    loss: str = "psnr"
    device: str = "cpu"
    seed: int = 0
    progress: bool = True

    def __post_init__(self):
        for name in ("steps", "batch", "patch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: {getattr(self, name)} must be >= 1")


def loop_config(config: TrainConfig):
    """The trainer.loop configuration of a fine-tuning run (no checkpoints)."""
    from trainer.loop import LoopConfig
    return LoopConfig(steps=config.steps, lr=config.lr, loss=config.loss, device=config.device,
                      progress=config.progress, log_every=max(1, min(50, config.steps)),
                      ckpt_every=0)


def tune_target(base: nn.Module, pairs: Sequence[Pair], config: TrainConfig) -> nn.Module:
    """FAIG's target: a copy of `base` with every parameter briefly fine-tuned on the task."""
    from trainer.loop import fit

    target = copy.deepcopy(base).requires_grad_(True)
    fit(target, pair_batches(pairs, config.batch, config.patch, config.seed), loop_config(config))
    return target.eval()


@dataclass
class FinetuneResult:
    """The adapted model (adapter "default" active, unmerged) and its plan."""

    model: nn.Module
    plan: AdapterPlan
    fit: object = field(repr=False)


def finetune(model: nn.Module, pairs: Sequence[Pair], method: str, train: TrainConfig,
             config=None, scores: Mapping[str, float] | None = None,
             out_dir=None, batches=None) -> FinetuneResult:
    """Adapt `model` in place with `method` (config: its config, default its defaults) and
    train only what the method tunes. scores: FAIG contributions, for methods that need them.
    out_dir: where the loop writes metrics.jsonl (and TensorBoard events), as pre-training does.
    batches: a BatchSource to use instead of crops of `pairs`; its batches' "level" (c per
    image) conditions a level-conditioned method and is ignored by the others (a blind
    adapter trained on the same levels)."""
    from trainer.adapters import get_method, set_level
    from trainer.loop import fit

    config = method_config(method) if config is None else config
    try:
        plan = make_plan(model, method, config, scores)
    except ValueError as error:  # e.g. FAIG scores of another model
        raise AdaptError(None, str(error)) from None
    apply_plan(model, plan, config)
    if batches is None:
        batches = pair_batches(pairs, train.batch, train.patch, train.seed)
    condition = None
    if get_method(method).levels:
        def condition(batch):
            if "level" not in batch:
                raise AdaptError(None, f"method {method} needs a level per training image")
            set_level(model, batch["level"])
    result = fit(model, batches, loop_config(train), params=trainable_parameters(model),
                 out_dir=out_dir, condition=condition)
    return FinetuneResult(model.eval(), plan, result)

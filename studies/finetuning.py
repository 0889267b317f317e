"""One fine-tuning run of the studies: copy a base model, tune it on N pairs, score the test set.

Fine-tuning goes through `trainer.finetune.finetune` (the method's plan, then `trainer.loop.fit`
on only the parameters the method tunes); FAIG scores for CoLoRA through
`trainer.finetune.task_faig`. Test images of equal size are restored in one batch (the results
are those of `trainer.restore.restore_image` image by image; batching only saves time).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from studies.downstream import TaskData
from studies.scales import ScaleConfig

EVAL_BATCH = 8


@dataclass(frozen=True)
class RunOutcome:
    """A fine-tuned model's test PSNRs (per image, in test order) and what it tuned."""

    psnr: float
    per_image: tuple[float, ...]
    tuned_params: int
    model_params: int
    seconds: float


def batches_by_shape(images: list[np.ndarray]) -> list[list[int]]:
    """Indices of equal-shaped images, in chunks of at most EVAL_BATCH."""
    groups: dict[tuple, list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(image.shape, []).append(index)
    return [group[i:i + EVAL_BATCH] for group in groups.values()
            for i in range(0, len(group), EVAL_BATCH)]


def restore_all(model: nn.Module, images: list[np.ndarray], device: str) -> list[np.ndarray]:
    """Restored uint8 images, in order, with gradients off and the model in eval mode."""
    from pipelines.batching import image_to_tensor, tensor_to_image

    was_training = model.training
    model.eval()
    outputs: list[np.ndarray | None] = [None] * len(images)
    try:
        with torch.no_grad():
            for group in batches_by_shape(images):
                batch = torch.stack([image_to_tensor(images[i]) for i in group]).to(device)
                restored = model(batch)
                for i, out in zip(group, restored):
                    outputs[i] = tensor_to_image(out)
    finally:
        model.train(was_training)
    return outputs


def score_test_set(model: nn.Module, task: TaskData, device: str) -> list[float]:
    """PSNR (dB, RGB, 0-255) of each restored test image against its ground truth."""
    from trainer.metrics import psnr

    restored = restore_all(model, [lq for _, lq, _ in task.test], device)
    return [psnr(out, gt) for out, (_, _, gt) in zip(restored, task.test)]


def input_psnrs(task: TaskData) -> list[float]:
    """PSNR of each degraded test input against its ground truth (the identity baseline)."""
    from trainer.metrics import psnr

    return [psnr(lq, gt) for _, lq, gt in task.test]


def training_pairs(task: TaskData, count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The first `count` training pairs, named for trainer.finetune."""
    if not 1 <= count <= len(task.train):
        raise ValueError(f"{task.name}: {count} training pairs asked, {len(task.train)} prepared")
    return [(f"{task.name}-{i:04d}", lq, gt) for i, (lq, gt) in enumerate(task.train[:count])]


def train_config(scale: ScaleConfig, seed: int, device: str, lr_factor: float = 1.0):
    from trainer.finetune import TrainConfig

    return TrainConfig(steps=scale.finetune_steps, batch=scale.finetune_batch,
                       patch=scale.finetune_patch, lr=scale.finetune_lr * lr_factor,
                       device=device, seed=seed, progress=False)


def finetune_and_score(base: nn.Module, task: TaskData, count: int, method: str,
                       scale: ScaleConfig, seed: int, device: str,
                       scores: dict[str, float] | None = None, lr_factor: float = 1.0,
                       budget: float | None = None) -> RunOutcome:
    """Tune a copy of `base` with `method` on the first `count` pairs; score the test set.
    `lr_factor` scales the scale's learning rate and `budget` replaces its CoLoRA/LoRA budget
    (the confound arms)."""
    from trainer.adapters import get_method, method_config
    from trainer.finetune import finetune

    began = time.perf_counter()
    torch.manual_seed(seed)
    model = copy.deepcopy(base)
    options = {"budget": budget or scale.colora_budget, "rank": scale.lora_rank or None,
               "seed": seed}
    adapter = method_config(method, options, strict=False)
    result = finetune(model, training_pairs(task, count), method,
                      train_config(scale, seed, device, lr_factor), adapter,
                      scores if get_method(method).needs_scores else None)
    per_image = score_test_set(result.model, task, device)
    return RunOutcome(float(np.mean(per_image)), tuple(per_image), result.plan.tuned_count,
                      result.plan.model_params, time.perf_counter() - began)


def faig_for_task(base: nn.Module, task: TaskData, scale: ScaleConfig, seed: int,
                  device: str) -> dict[str, float]:
    """Parameter name -> FAIG score of `base` on the task's first `faig_pairs` training pairs
    (within the smallest training set, so no run sees more task data than it is given)."""
    from dataclasses import replace

    from trainer.finetune import task_faig

    pairs = training_pairs(task, scale.faig_pairs)
    tune = replace(train_config(scale, seed, device), steps=scale.faig_target_steps)
    torch.manual_seed(seed)
    return task_faig(base, {task.name: pairs}, None, tune, steps=scale.faig_steps,
                     images=scale.faig_pairs)[task.name]

"""FAIG over tasks: each task's target model (given, or the base briefly fine-tuned in full)
against the base, on the task's pairs."""
from __future__ import annotations

from typing import Mapping, Sequence

from torch import nn

from trainer.finetune.base import AdaptError, load_base
from trainer.finetune.data import Pair, faig_batch_size, faig_batches
from trainer.finetune.tuning import TrainConfig, tune_target


def task_faig(base: nn.Module, task_pairs: Mapping[str, Sequence[Pair]],
              targets: Mapping[str, nn.Module] | None, tune: TrainConfig, steps: int = 100,
              images: int = 16) -> dict[str, dict[str, float]]:
    """Per task: parameter name -> FAIG score of base vs the task's target (given, or tuned
    briefly from `base` with `tune`)."""
    from trainer.faig import faig_scores
    from trainer.loop import LOSS_FUNCTIONS

    per_task = {}
    for task, pairs in task_pairs.items():
        target = (targets or {}).get(task) or tune_target(base, pairs, tune)
        batches = faig_batches(pairs, images, faig_batch_size(tune.device))
        per_task[task] = faig_scores(base, target, batches, steps, LOSS_FUNCTIONS[tune.loss],
                                     tune.progress)
    return per_task


def faig_for_tasks(base_path: str, tasks: Sequence[str], target_paths: Sequence[str],
                   tune: TrainConfig, steps: int = 100, images: int = 16) -> dict:
    """The faig.json document for `tasks`: FAIG of the base against each task's target (a given
    model file, or the base fully fine-tuned for tune.steps on `images` synthetic pairs of
    tune.patch x tune.patch, which FAIG then integrates over)."""
    from trainer.checkpoint import CheckpointError, load_model
    from trainer.faig import faig_report
    from trainer.tasks import synthesize_pairs

    if target_paths and len(target_paths) != len(tasks):
        raise AdaptError("target", f"give one per `task` ({len(tasks)}), got {len(target_paths)}")
    base, _, _ = load_base(base_path)
    base.to(tune.device)
    targets = {}
    for task, path in zip(tasks, target_paths):
        try:
            targets[task] = load_model(path, tune.device)[0]
        except CheckpointError as error:
            raise AdaptError("target", str(error)) from None
    pairs = {task: synthesize_pairs(task, images, tune.patch, tune.seed) for task in tasks}
    per_task = task_faig(base, pairs, targets, tune, steps, images)
    return faig_report(base, per_task, steps)

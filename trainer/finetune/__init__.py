"""Fine-tuning a pre-trained model on one task: data (batches from pairs), tuning (a registered
method through trainer.loop.fit), FAIG runs over tasks, and the request objects behind
`trainer colora` and `trainer faig`."""
from trainer.finetune.base import DEFAULT_BASE, AdaptError, load_base, option_message
from trainer.finetune.data import Pair, faig_batch_size, faig_batches, pair_batches
from trainer.finetune.faig_runs import faig_for_tasks, task_faig
from trainer.finetune.requests import (ADAPTER_NAME, FAIG_NAME, SUMMARY_NAME, AdaptRequest,
                                       adapt_to_task, method_counts, read_faig_scores,
                                       summary_line, task_pairs)
from trainer.finetune.tuning import FinetuneResult, TrainConfig, finetune, tune_target

__all__ = [
    "ADAPTER_NAME", "AdaptError", "AdaptRequest", "DEFAULT_BASE", "FAIG_NAME", "FinetuneResult",
    "Pair", "SUMMARY_NAME", "TrainConfig", "adapt_to_task", "faig_batch_size", "faig_batches",
    "faig_for_tasks", "finetune", "load_base", "method_counts", "option_message",
    "pair_batches", "read_faig_scores", "summary_line", "task_faig", "task_pairs",
    "tune_target",
]

"""Both studies end to end: data, pre-training arms, fine-tuning runs, FAIG, into one results dict.

Pre-training study: every arm (random, single, fixed, prod) fully fine-tuned on every task with
every training-pair count. Fine-tuning study: from the PROD model, every method (full, lora,
decoder, colora) on the same tasks and counts, then the scale's confound arms (a method with one
recipe change, studies.scales.CONFOUND_ARMS). Runs at the same (task, count) share one seed, so
arms and methods see identical batches; "full from PROD" is one run shared by both studies.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from pipelines.files import write_text_atomically
from studies.scales import CONFOUND_ARMS, ScaleConfig

PRETRAIN_ARMS = ("random", "single", "fixed", "prod")
FINETUNE_METHODS = ("full", "lora", "decoder", "colora")  # the paper's comparison; any registered
ARM_LABELS = {"random": "Random init", "single": "Single", "fixed": "Fixed", "prod": "PROD"}


def method_labels(methods=FINETUNE_METHODS) -> dict[str, str]:
    """{method: its label} from the adapters registry."""
    from trainer.adapters import get_method
    return {method: get_method(method).label for method in methods}


def run_seed(scale: ScaleConfig, task_index: int, count: int) -> int:
    """The seed of every run at (task, count), whatever the arm or method."""
    from degrade.seeding import STUDY_RUN, sample_seed

    return sample_seed(scale.seed, count, STUDY_RUN, task_index) % (2**31)


class _Progress:
    """Numbered progress lines: `[done/total] what: result (seconds)`."""

    def __init__(self, total: int, log: Callable[[str], None]):
        self.total, self.done, self.log = total, 0, log

    def run(self, label: str, outcome) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {label}: {outcome.psnr:.2f} dB "
                 f"({outcome.tuned_params:,} tuned, {outcome.seconds:.1f} s)")


def _outcome_record(outcome) -> dict:
    return {"psnr": outcome.psnr, "per_image": list(outcome.per_image),
            "tuned_params": outcome.tuned_params, "seconds": outcome.seconds}


def _task_records(tasks) -> list[dict]:
    from studies.downstream import TASK_DESCRIPTIONS, TASK_LABELS
    from studies.finetuning import input_psnrs

    records = []
    for task in tasks:
        inputs = input_psnrs(task)
        records.append({"name": task.name, "label": TASK_LABELS[task.name],
                        "description": TASK_DESCRIPTIONS[task.name],
                        "train_pairs": len(task.train), "train_size": list(task.train[0][1].shape),
                        "test_images": [name for name, _, _ in task.test],
                        "test_size": list(task.test[0][2].shape),
                        "input_psnr": sum(inputs) / len(inputs), "input_per_image": inputs})
    return records


def pretraining_study(arms, tasks, scale: ScaleConfig, device: str, progress: _Progress) -> dict:
    """{arm: {task: {count: run record}}}: full fine-tuning from every arm."""
    from studies.finetuning import finetune_and_score

    runs: dict = {}
    for arm in arms:
        for task_index, task in enumerate(tasks):
            for count in scale.train_counts:
                outcome = finetune_and_score(arm.model, task, count, "full", scale,
                                             run_seed(scale, task_index, count), device)
                runs.setdefault(arm.arm, {}).setdefault(task.name, {})[str(count)] = \
                    _outcome_record(outcome)
                progress.run(f"pre-training study {arm.arm:>6} {task.name:<11} n={count}", outcome)
    return runs


def finetuning_study(prod, tasks, scale: ScaleConfig, device: str, progress: _Progress,
                     full_runs: dict, faig: dict) -> dict:
    """{method or confound arm: {task: {count: run record}}} from the PROD model; `full` reuses
    `full_runs`."""
    from studies.finetuning import finetune_and_score

    runs: dict = {"full": full_runs}
    model_params = sum(p.numel() for p in prod.model.parameters())
    for name in (*FINETUNE_METHODS[1:], *scale.confound_arms):
        arm = CONFOUND_ARMS.get(name)
        for task_index, task in enumerate(tasks):
            for count in scale.train_counts:
                budget = (runs[arm.budget_of][task.name][str(count)]["tuned_params"]
                          / model_params if arm and arm.budget_of else None)
                outcome = finetune_and_score(
                    prod.model, task, count, arm.method if arm else name, scale,
                    run_seed(scale, task_index, count), device, scores=faig.get(task.name),
                    lr_factor=arm.lr_factor if arm else 1.0, budget=budget)
                runs.setdefault(name, {}).setdefault(task.name, {})[str(count)] = \
                    _outcome_record(outcome)
                progress.run(f"fine-tuning study {name:>7} {task.name:<11} n={count}", outcome)
    return runs


def faig_per_task(prod, tasks, scale: ScaleConfig, device: str, log) -> dict:
    """{task: {parameter: FAIG score}} of the PROD model, for CoLoRA's rank allocation."""
    from studies.finetuning import faig_for_task

    scores = {}
    for task_index, task in enumerate(tasks):
        began = time.perf_counter()
        scores[task.name] = faig_for_task(prod.model, task, scale,
                                          run_seed(scale, task_index, scale.faig_pairs), device)
        log(f"FAIG {task.name}: {scale.faig_steps} steps on {scale.faig_pairs} pairs, "
            f"{time.perf_counter() - began:.1f} s")
    return scores


def tuned_parameter_table(runs: dict, model_params: int) -> dict:
    """{method: {min, max, mean, percent}} of tuned parameter counts over tasks and counts."""
    table = {}
    for method, by_task in runs.items():
        counts = [r["tuned_params"] for by_count in by_task.values() for r in by_count.values()]
        mean = sum(counts) / len(counts)
        table[method] = {"min": min(counts), "max": max(counts), "mean": mean,
                         "percent": 100.0 * mean / model_params}
    return table


def psnr_table(runs: dict) -> dict:
    """{arm: {task: {count: psnr}}}: the score tables the plots and the report read."""
    return {arm: {task: {count: r["psnr"] for count, r in by_count.items()}
                  for task, by_count in by_task.items()} for arm, by_task in runs.items()}


def write_json_atomically(path: Path, document: dict) -> Path:
    write_text_atomically(path, json.dumps(document, indent=1) + "\n")
    return path


def run_reproduction(data_dir: Path, scale: ScaleConfig, out: Path, device: str | None = None,
                     command: str = "", log: Callable[[str], None] = print,
                     work: Path | None = None) -> dict:
    """Run both studies; write out/results.json and return the results document. Shards and
    pre-trained weights go to `work` (default out/work).

    Raises DataFolderError (one line) before any work when the data folder is incomplete.
    """
    from datetime import datetime, timezone

    from studies.datafolder import check_data_folder
    from studies.downstream import prepare_tasks
    from studies.pretraining import pretrained_arms
    from studies.environment import hardware_info

    began, cpu_began = time.perf_counter(), time.process_time()
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    device = device or scale.device
    folder = check_data_folder(data_dir, scale.cbsd68_count)
    tasks = prepare_tasks(folder, scale)
    log(f"prepared {len(tasks)} tasks ({', '.join(t.name for t in tasks)}) in "
        f"{time.perf_counter() - began:.1f} s")
    arms = pretrained_arms(folder, scale, work or out / "work", device, log)
    per_study = len(tasks) * len(scale.train_counts)
    progress = _Progress(per_study * (len(PRETRAIN_ARMS) + len(FINETUNE_METHODS) - 1
                                      + len(scale.confound_arms)), log)
    pre_runs = pretraining_study(arms, tasks, scale, device, progress)
    prod = next(arm for arm in arms if arm.arm == "prod")
    faig = faig_per_task(prod, tasks, scale, device, log)
    ft_runs = finetuning_study(prod, tasks, scale, device, progress, pre_runs["prod"], faig)
    model_params = sum(p.numel() for p in prod.model.parameters())
    results = {
        "scale": asdict(scale), "device": device, "data": str(data_dir),
        "counts": list(scale.train_counts), "tasks": _task_records(tasks),
        "model_params": model_params,
        "pretraining": {"arms": list(PRETRAIN_ARMS), "labels": ARM_LABELS,
                        "pretrain_runs": {a.arm: a.summary for a in arms},
                        "runs": pre_runs, "psnr": psnr_table(pre_runs)},
        "finetuning": {"methods": list(FINETUNE_METHODS),
                       "confound_arms": {name: asdict(CONFOUND_ARMS[name])
                                         for name in scale.confound_arms},
                       "labels": {**method_labels(), **{name: CONFOUND_ARMS[name].label
                                                       for name in scale.confound_arms}},
                       "runs": ft_runs, "psnr": psnr_table(ft_runs),
                       "tuned": tuned_parameter_table(ft_runs, model_params)},
        "command": command,
        "hardware": {**hardware_info(device), "load_average_1min_at_start": load_at_start},
        "wall_seconds": time.perf_counter() - began,
        "cpu_seconds": time.process_time() - cpu_began,
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    write_json_atomically(out / "results.json", results)
    return results

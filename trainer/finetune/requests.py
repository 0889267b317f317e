"""`trainer colora` as a function: a request object shaped like the command's options, and the
run it describes (FAIG when needed, fine-tuning, test scores, adapter file and summary)."""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from torch import nn

from degrade.errors import ConfigError, KitError
from trainer.finetune.base import DEFAULT_BASE, AdaptError, load_base
from trainer.finetune.data import Pair
from trainer.finetune.faig_runs import task_faig
from trainer.finetune.tuning import FinetuneResult, TrainConfig, finetune

ADAPTER_NAME, SUMMARY_NAME, FAIG_NAME = "adapter.safetensors", "summary.json", "faig.json"
LOG = logging.getLogger("trainer.finetune")


@dataclass(frozen=True)
class AdaptRequest:
    """Everything `trainer colora` needs. method: a registered adaptation method; adapter: its
    config (None: the method's defaults). data/test: paired folders (None: synthesise the task
    from the embedded images); faig: a faig.json (None: compute FAIG first, for methods that
    need contributions)."""

    task: str
    out: str
    base: str = DEFAULT_BASE
    method: str = "colora"
    adapter: object = None
    train: TrainConfig = TrainConfig()
    faig: str | None = None
    data: str | None = None
    test: str | None = None
    train_count: int = 16
    test_count: int = 8
    faig_steps: int = 100
    faig_images: int = 16
    tune_steps: int = 200
    overwrite: bool = False
    levels: str | None = None  # natural values, e.g. "15,35,55,75" (trainer.finetune.levels)
    level_range: str | None = None  # "LOW:HIGH", sampled per image
    level_labels: str | None = None  # CSV name,level for the pairs of `data`

    def method_config(self):
        from trainer.adapters import method_config
        return method_config(self.method) if self.adapter is None else self.adapter


def task_pairs(request: AdaptRequest) -> tuple[list[Pair], list[Pair]]:
    """(train pairs, test pairs): real folders where given, else synthesised for the task."""
    from trainer.tasks import synthesize_pairs

    size = 2 * request.train.patch  # room for random crops
    train = (_real_pairs("data", request.data, request.train_count) if request.data else
             synthesize_pairs(request.task, request.train_count, size, request.train.seed))
    test = (_real_pairs("test", request.test, request.test_count) if request.test else
            synthesize_pairs(request.task, request.test_count, size, request.train.seed, "test"))
    return train, test


def _real_pairs(field: str, path: str, limit: int) -> list[Pair]:
    """Up to `limit` pairs from `path`; fewer is said on the log, with the number used."""
    from trainer.tasks import load_pairs

    try:
        pairs = load_pairs(path, limit)
    except (KitError, ValueError, OSError) as error:  # KitError: corrupt shards, bad images
        raise AdaptError(field, f"{path}: {error}") from None
    if len(pairs) < limit:
        LOG.warning("note: %s holds %d pair(s), fewer than the %d asked for; using %d",
                    path, len(pairs), limit, len(pairs))
    return pairs


def read_faig_scores(path: str) -> dict[str, float]:
    """Averaged parameter scores from a faig.json; AdaptError naming the file."""
    from trainer.faig import scores_from_report

    try:
        with open(path, encoding="utf-8") as handle:
            return scores_from_report(json.load(handle))
    except (OSError, ValueError) as error:
        raise AdaptError("faig", f"{path}: {error}") from None


def request_scores(request: AdaptRequest, base: nn.Module, train: Sequence[Pair]):
    """(parameter scores, faig report or None): read from `faig`, or computed, for methods
    that need contributions; (None, None) for the others."""
    from trainer.adapters import get_method
    from trainer.faig import faig_report, scores_from_report

    if not get_method(request.method).needs_scores:
        return None, None
    if request.faig:
        return read_faig_scores(request.faig), None
    tune = dataclasses.replace(request.train, steps=request.tune_steps)
    per_task = task_faig(base, {request.task: train}, None, tune, request.faig_steps,
                         request.faig_images)
    report = faig_report(base, per_task, request.faig_steps)
    return scores_from_report(report), report


def adapt_to_task(request: AdaptRequest) -> dict:
    """FAIG (when needed), fine-tuning with the request's method, test scores before and after,
    the adapter file and summary.json in request.out. Returns the summary dict."""
    from pipelines.folderlock import folder_lock
    from trainer.finetune.levels import adapt_with_levels, wants_levels

    if wants_levels(request):
        return adapt_with_levels(request)
    config = request.method_config()
    task = adapter_task(request)
    with folder_lock(request.out, "training run"):  # one writer per run folder
        return _adapt_in_locked_folder(request, Path(request.out), config, task)


def _adapt_in_locked_folder(request: AdaptRequest, out: Path, config, task: dict) -> dict:
    from pipelines.files import sha256_file

    base, metadata, base_path = start_run(request, out)
    train, test = task_pairs(request)
    scores, report = request_scores(request, base, train)
    before = _evaluate(base, test, request.train.device)
    result = finetune(base, train, request.method, request.train, config, scores, out_dir=out)
    after = _evaluate(result.model, test, request.train.device)
    info = _adapter_info(request, base_path, metadata, sha256_file(base_path), len(train))
    return _write_outputs(out, result, request, task, info, report, before, after, base_path)


def start_run(request: AdaptRequest, out: Path):
    """Check the run folder (an adapter there is kept unless `overwrite`), clear the old
    training log and load the base on the request's device: (base, metadata, base path)."""
    if (out / ADAPTER_NAME).exists() and not request.overwrite:
        raise AdaptError("out", f"{out}: already holds {ADAPTER_NAME}; set `overwrite` or "
                                f"choose another folder")
    clear_training_log(out, request.overwrite)
    base, metadata, base_path = load_base(request.base)
    base.to(request.train.device)
    return base, metadata, base_path


def clear_training_log(out: Path, overwrite: bool) -> None:
    """Make room for this run's metrics.jsonl: another run's log is kept unless `overwrite`."""
    import shutil

    from trainer.loop import METRICS_NAME

    if (out / METRICS_NAME).exists() and not overwrite:
        raise AdaptError("out", f"{out}: already holds the {METRICS_NAME} of another run; set "
                                f"`overwrite` or choose another folder")
    if overwrite:
        (out / METRICS_NAME).unlink(missing_ok=True)
        shutil.rmtree(out / "tensorboard", ignore_errors=True)


def _evaluate(model: nn.Module, pairs: Sequence[Pair], device: str) -> dict[str, float]:
    from trainer.evaluate import evaluate_pairs
    means = evaluate_pairs(model, pairs, device).means()
    return {key: float(means[key]) for key in ("psnr", "ssim", "input_psnr", "input_ssim")}


def _adapter_info(request: AdaptRequest, base_path, metadata: dict, base_sha: str,
                  train_count: int) -> dict:
    return {"base_path": str(base_path), "base_sha256": base_sha,
            "preset": metadata.get("preset") or "", "config": metadata.get("config"),
            "train_count": train_count, "data": request.data or "synthetic",
            "steps": request.train.steps, "seed": request.train.seed}


def adapter_task(request: AdaptRequest) -> dict:
    """The task entry of the adapter: the task's ops; synthesised pairs span each op's whole
    level range, real pairs an unknown one."""
    from trainer.adapters import task_description
    from trainer.tasks import task_ops

    try:
        ops = task_ops(request.task)
    except ConfigError:  # an unknown task: a usage error naming the option
        raise
    except ValueError as error:
        raise AdaptError("task", str(error).removeprefix("task: ")) from None
    return task_description(request.task, ops, None if request.data else (0.0, 1.0))


def _write_outputs(out: Path, result: FinetuneResult, request: AdaptRequest, task: dict,
                   info: dict, report, before: dict, after: dict, base_path,
                   extra: dict | None = None) -> dict:
    """The adapter file, faig.json (when computed) and summary.json (plus `extra` keys)."""
    from pipelines.files import write_text_atomically
    from trainer.adapters import save_adapter
    from trainer.loop import LOSS_MEANINGS

    out.mkdir(parents=True, exist_ok=True)
    if report is not None:
        write_text_atomically(out / FAIG_NAME, json.dumps(report, indent=1))
    adapter_path = save_adapter(out / ADAPTER_NAME, result.model, task=task,
                                info=info)
    summary = {**info, "task": request.task, "method": request.method,
               "loss_meaning": LOSS_MEANINGS[request.train.loss],
               "adapter_config": request.method_config().to_dict(),
               "tuned": result.plan.counts_by_role(),
               "tuned_count": result.plan.tuned_count, "model_params": result.plan.model_params,
               "adapter_bytes": adapter_path.stat().st_size,
               "model_bytes": base_path.stat().st_size, "before": before, "after": after,
               "plan": result.plan.to_dict(), **(extra or {})}
    write_text_atomically(out / SUMMARY_NAME, json.dumps(summary, indent=1))
    return summary


def summary_line(summary: Mapping) -> str:
    """One line: method, task, tuned counts, file sizes, PSNR/SSIM before -> after."""
    tuned, total = summary["tuned_count"], summary["model_params"]
    roles = summary["tuned"]
    b, a = summary["before"], summary["after"]
    return (f"{summary['method']} {summary['task']}: tuned {tuned / 1e6:.3f}M of "
            f"{total / 1e6:.3f}M parameters ({100 * tuned / total:.2f}%; low-rank "
            f"{roles['lora'] / 1e6:.3f}M + tensors {roles['tuned'] / 1e6:.3f}M), adapter "
            f"{summary['adapter_bytes'] / 1e6:.2f} MB vs model {summary['model_bytes'] / 1e6:.2f} MB; "
            f"test PSNR {b['psnr']:.2f} -> {a['psnr']:.2f} dB, SSIM {b['ssim']:.4f} -> "
            f"{a['ssim']:.4f} (input {b['input_psnr']:.2f} dB)")


def method_counts(request: AdaptRequest, options: Mapping | None = None) -> list[tuple[str, int, int]]:
    """Tuned-parameter counts of every registered method for the request's base and `faig`
    (methods that need contributions are left out without it); options: budget, rank..."""
    from trainer.adapters import plan_counts

    base, _, _ = load_base(request.base)
    scores = read_faig_scores(request.faig) if request.faig else None
    return plan_counts(base, scores, options)

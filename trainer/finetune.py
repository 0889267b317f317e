"""Fine-tuning a pre-trained model on one task with a chosen method (CoLoRA, LoRA, decoder-only,
full), through trainer.loop.fit with only the method's trainable parameters; also the brief full
fine-tune that gives FAIG its target model, and FAIG over several tasks.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from trainer.colora import (AdapterConfig, AdapterPlan, apply_plan, make_plan, model_fingerprint,
                            trainable_parameters)

Pair = tuple[str, np.ndarray, np.ndarray]
BATCH_STREAM = 3


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


# ---------------------------------------------------------------- data

def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 3xHxW in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0


def pair_batches(pairs: Sequence[Pair], batch: int, patch: int, seed: int) -> Callable:
    """A trainer.loop BatchSource: batch number b holds `batch` aligned random crops (and
    flips) drawn from (seed, b) alone, so a run is the same whatever resumes it."""
    from degrade.seeding import sample_seed

    if not pairs:
        raise ValueError("pairs: no training pairs")
    size = min(patch, *(min(lq.shape[:2]) for _, lq, _ in pairs))
    tensors = [(to_tensor(lq), to_tensor(gt)) for _, lq, gt in pairs]

    def batches(start: int):
        number = start
        while True:
            rng = np.random.default_rng(sample_seed(seed, number, BATCH_STREAM))
            crops = [_random_crop(*tensors[int(rng.integers(len(tensors)))], size, rng)
                     for _ in range(batch)]
            yield {"lq": torch.stack([c[0] for c in crops]), "gt": torch.stack([c[1] for c in crops])}
            number += 1
    return batches


def _random_crop(lq: torch.Tensor, gt: torch.Tensor, size: int, rng: np.random.Generator):
    y = int(rng.integers(lq.shape[1] - size + 1))
    x = int(rng.integers(lq.shape[2] - size + 1))
    lq, gt = lq[:, y:y + size, x:x + size], gt[:, y:y + size, x:x + size]
    if rng.random() < 0.5:
        lq, gt = lq.flip(-1), gt.flip(-1)
    return lq, gt


def faig_batches(pairs: Sequence[Pair], limit: int = 16,
                 batch: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Whole images of the first `limit` pairs for FAIG, in (Bx3xHxW, Bx3xHxW) batches of up to
    `batch` consecutive pairs of one size. FAIG weights every image alike however they are
    batched; a GPU at batch 1 is mostly idle."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    groups: list[list[tuple[torch.Tensor, torch.Tensor]]] = []
    for _, lq, gt in list(pairs)[:limit]:
        pair = (to_tensor(lq), to_tensor(gt))
        if groups and len(groups[-1]) < batch and groups[-1][0][0].shape == pair[0].shape:
            groups[-1].append(pair)
        else:
            groups.append([pair])
    return [(torch.stack([lq for lq, _ in group]), torch.stack([gt for _, gt in group])) for group in groups]


def faig_batch_size(device: str) -> int:
    """Images per FAIG pass: 8 on a GPU (about 12 GB at 256x256 for NAFNet-w32, fp32), 4 on the
    CPU (about 6 GB; 1.5-1.9x faster than one at a time for nafnet-small at 64x64 here)."""
    return 8 if str(device).startswith("cuda") else 4


# ---------------------------------------------------------------- training

def _loop_config(config: TrainConfig):
    from trainer.loop import LoopConfig
    return LoopConfig(steps=config.steps, lr=config.lr, loss=config.loss, device=config.device,
                      progress=config.progress, log_every=max(1, min(50, config.steps)),
                      ckpt_every=0)


def tune_target(base: nn.Module, pairs: Sequence[Pair], config: TrainConfig) -> nn.Module:
    """FAIG's target: a copy of `base` with every parameter briefly fine-tuned on the task."""
    from trainer.loop import fit

    target = copy.deepcopy(base).requires_grad_(True)
    fit(target, pair_batches(pairs, config.batch, config.patch, config.seed), _loop_config(config))
    return target.eval()


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


@dataclass
class FinetuneResult:
    """The adapted model (LoRA layers unmerged), its plan, and the base's fingerprint."""

    model: nn.Module
    plan: AdapterPlan
    base_fingerprint: str
    fit: object = field(repr=False)


def finetune(model: nn.Module, pairs: Sequence[Pair], adapter: AdapterConfig,
             train: TrainConfig, scores: Mapping[str, float] | None = None) -> FinetuneResult:
    """Adapt `model` in place with `adapter.method` and train only what the method tunes."""
    from trainer.loop import fit

    fingerprint = model_fingerprint(model)
    plan = make_plan(model, adapter, scores)
    apply_plan(model, plan, alpha=adapter.alpha, seed=adapter.seed)
    result = fit(model, pair_batches(pairs, train.batch, train.patch, train.seed),
                 _loop_config(train), params=trainable_parameters(model))
    return FinetuneResult(model.eval(), plan, fingerprint, result)


# ---------------------------------------------------------------- `trainer colora` as a function

DEFAULT_BASE = "runs/pretrain/model.safetensors"
ADAPTER_NAME, SUMMARY_NAME, FAIG_NAME = "adapter.safetensors", "summary.json", "faig.json"


class AdaptError(Exception):
    """Bad input to a task adaptation run; the message is one line naming the option or file."""


@dataclass(frozen=True)
class AdaptRequest:
    """Everything `trainer colora` needs. data/test: paired folders (None: synthesise the task
    from the embedded images); faig: a faig.json (None: compute FAIG first, colora only)."""

    task: str
    out: str
    base: str = DEFAULT_BASE
    adapter: AdapterConfig = AdapterConfig()
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


def load_base(path: str):
    """(model, metadata, resolved path) of the base; AdaptError explaining a missing default."""
    from trainer.checkpoint import CheckpointError, load_model, resolve_model_path

    try:
        resolved = resolve_model_path(path)
        model, metadata = load_model(resolved)
    except CheckpointError as error:
        hint = " (run `trainer pretrain` first, or pass --base)" if path == DEFAULT_BASE else ""
        raise AdaptError(f"--base: {error}{hint}") from None
    return model, metadata, resolved


def task_pairs(request: AdaptRequest) -> tuple[list[Pair], list[Pair]]:
    """(train pairs, test pairs): real folders where given, else synthesised for the task."""
    from trainer.tasks import synthesize_pairs

    size = 2 * request.train.patch  # room for random crops
    train = (_real_pairs("--data", request.data, request.train_count) if request.data else
             synthesize_pairs(request.task, request.train_count, size, request.train.seed))
    test = (_real_pairs("--test", request.test, request.test_count) if request.test else
            synthesize_pairs(request.task, request.test_count, size, request.train.seed, "test"))
    return train, test


def _real_pairs(option: str, path: str, limit: int) -> list[Pair]:
    from pipelines.sources import SourceError
    from trainer.tasks import load_pairs

    try:
        return load_pairs(path, limit)
    except (SourceError, ValueError, OSError) as error:
        raise AdaptError(f"{option} {path}: {error}") from None


def read_faig_scores(path: str) -> dict[str, float]:
    """Averaged parameter scores from a faig.json; AdaptError naming the file."""
    import json

    from trainer.faig import scores_from_report

    try:
        with open(path, encoding="utf-8") as handle:
            return scores_from_report(json.load(handle))
    except (OSError, ValueError) as error:
        raise AdaptError(f"--faig {path}: {error}") from None


def request_scores(request: AdaptRequest, base: nn.Module, train: Sequence[Pair]):
    """(parameter scores, faig report or None): read from --faig, or computed for colora;
    (None, None) for the other methods."""
    from trainer.faig import faig_report, scores_from_report

    if request.adapter.method != "colora":
        return None, None
    if request.faig:
        return read_faig_scores(request.faig), None
    tune = _replace(request.train, steps=request.tune_steps)
    per_task = task_faig(base, {request.task: train}, None, tune, request.faig_steps,
                         request.faig_images)
    report = faig_report(base, per_task, request.faig_steps)
    return scores_from_report(report), report


def _replace(config, **changes):
    import dataclasses
    return dataclasses.replace(config, **changes)


def adapt_to_task(request: AdaptRequest) -> dict:
    """FAIG (when needed), fine-tuning with the request's method, test scores before and after,
    the adapter file and summary.json in request.out. Returns the summary dict."""
    from pathlib import Path

    from pipelines.files import sha256_file

    out = Path(request.out)
    if (out / ADAPTER_NAME).exists() and not request.overwrite:
        raise AdaptError(f"--out {out}: already holds {ADAPTER_NAME}; use --overwrite or another folder")
    base, metadata, base_path = load_base(request.base)
    base.to(request.train.device)
    train, test = task_pairs(request)
    scores, report = request_scores(request, base, train)
    before = _evaluate(base, test, request.train.device)
    result = finetune(base, train, request.adapter, request.train, scores)
    after = _evaluate(result.model, test, request.train.device)
    info = _adapter_info(request, base_path, metadata, sha256_file(base_path), len(train))
    return _write_outputs(out, result, request, info, report, before, after, base_path)


def _evaluate(model: nn.Module, pairs: Sequence[Pair], device: str) -> dict[str, float]:
    from trainer.evaluate import evaluate_pairs
    means = evaluate_pairs(model, pairs, device).means()
    return {key: float(means[key]) for key in ("psnr", "ssim", "input_psnr", "input_ssim")}


def _adapter_info(request: AdaptRequest, base_path, metadata: dict, base_sha: str,
                  train_count: int) -> dict:
    return {"task": request.task, "method": request.adapter.method,
            "budget": request.adapter.budget, "base_path": str(base_path),
            "base_sha256": base_sha, "preset": metadata.get("preset") or "",
            "config": metadata.get("config"), "train_count": train_count,
            "data": request.data or "synthetic", "steps": request.train.steps,
            "seed": request.train.seed}


def _write_outputs(out, result: FinetuneResult, request: AdaptRequest, info: dict, report,
                   before: dict, after: dict, base_path) -> dict:
    import json

    from pipelines.files import write_text_atomically
    from trainer.colora import save_adapter

    out.mkdir(parents=True, exist_ok=True)
    if report is not None:
        write_text_atomically(out / FAIG_NAME, json.dumps(report, indent=1))
    adapter_path = save_adapter(out / ADAPTER_NAME, result.model, result.plan,
                                result.base_fingerprint, request.adapter.alpha, info)
    summary = {**info, "tuned": result.plan.counts_by_role(),
               "tuned_count": result.plan.tuned_count, "model_params": result.plan.model_params,
               "adapter_bytes": adapter_path.stat().st_size,
               "model_bytes": base_path.stat().st_size, "before": before, "after": after,
               "plan": result.plan.to_dict()}
    write_text_atomically(out / SUMMARY_NAME, json.dumps(summary, indent=1))
    return summary


def summary_line(summary: Mapping) -> str:
    """One line: method, task, tuned counts, file sizes, PSNR/SSIM before -> after."""
    tuned, total = summary["tuned_count"], summary["model_params"]
    roles = summary["tuned"]
    b, a = summary["before"], summary["after"]
    return (f"{summary['method']} {summary['task']}: tuned {tuned / 1e6:.3f}M of "
            f"{total / 1e6:.3f}M parameters ({100 * tuned / total:.2f}%; LoRA "
            f"{roles['lora'] / 1e6:.3f}M + tensors {roles['tuned'] / 1e6:.3f}M), adapter "
            f"{summary['adapter_bytes'] / 1e6:.2f} MB vs model {summary['model_bytes'] / 1e6:.2f} MB; "
            f"test PSNR {b['psnr']:.2f} -> {a['psnr']:.2f} dB, SSIM {b['ssim']:.4f} -> "
            f"{a['ssim']:.4f} (input {b['input_psnr']:.2f} dB)")


# ---------------------------------------------------------------- `trainer faig` as a function

def faig_for_tasks(base_path: str, tasks: Sequence[str], target_paths: Sequence[str],
                   tune: TrainConfig, steps: int = 100, images: int = 16) -> dict:
    """The faig.json document for `tasks`: FAIG of the base against each task's target (a given
    model file, or the base fully fine-tuned for tune.steps on `images` synthetic pairs of
    tune.patch x tune.patch, which FAIG then integrates over)."""
    from trainer.checkpoint import CheckpointError, load_model
    from trainer.faig import faig_report
    from trainer.tasks import synthesize_pairs

    if target_paths and len(target_paths) != len(tasks):
        raise AdaptError(f"--target: give one per --task ({len(tasks)}), got {len(target_paths)}")
    base, _, _ = load_base(base_path)
    base.to(tune.device)
    targets = {}
    for task, path in zip(tasks, target_paths):
        try:
            targets[task] = load_model(path, tune.device)[0]
        except CheckpointError as error:
            raise AdaptError(f"--target: {error}") from None
    pairs = {task: synthesize_pairs(task, images, tune.patch, tune.seed) for task in tasks}
    per_task = task_faig(base, pairs, targets, tune, steps, images)
    return faig_report(base, per_task, steps)


# ---------------------------------------------------------------- counting without training

def plan_counts(model: nn.Module, scores: Mapping[str, float] | None, budget: float = 0.07,
                rank: int | None = None) -> list[tuple[str, int, int]]:
    """(method, tuned parameters, model parameters) per method; colora only with scores."""
    configs = [AdapterConfig(method="decoder"), AdapterConfig(method="lora", budget=budget, rank=rank),
               AdapterConfig(method="colora", budget=budget), AdapterConfig(method="full")]
    rows = []
    for config in configs:
        if config.method == "colora" and scores is None:
            continue
        plan = make_plan(model, config, scores)
        rows.append((config.method, plan.tuned_count, plan.model_params))
    return rows


def method_counts(request: AdaptRequest) -> list[tuple[str, int, int]]:
    """plan_counts for the request's base and --faig (colora is left out without --faig)."""
    base, _, _ = load_base(request.base)
    scores = read_faig_scores(request.faig) if request.faig else None
    return plan_counts(base, scores, request.adapter.budget, request.adapter.rank)

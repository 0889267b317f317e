"""PROD pre-training: stream the shards, train a restoration preset with `fit`, write the run.

A run folder holds `run.json` (the options that define the run), `metrics.jsonl`,
`checkpoints/` (weights + training state, newest only), `best.safetensors` (best validation
PSNR), `model.safetensors` (final weights), `curves.png` and `summary.json`.

Defaults are NAFNet's official SIDD width-32 recipe: 200k steps, global batch 32 of 256x256
patches, AdamW lr 1e-3 with betas (0.9, 0.9) and no weight decay, cosine to 1e-7, PSNR loss,
gradient-norm clipping at 0.01. `batch` is the global batch: under torchrun each of N processes
takes batch / N samples per step, so the recipe does not depend on the number of GPUs.
"""
from __future__ import annotations

import itertools
import json
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import torch

from degrade.errors import ConfigError, KitError
from pipelines.files import sha256_file, write_text_atomically
from pipelines.folderlock import folder_lock, is_lock_file
from trainer import checkpoint as ckpt
from trainer import distributed
from trainer.loop import (AMP_MODES, LOSS_MEANINGS, LOSSES, METRICS_NAME, FitResult, LoopConfig,
                          fit)

RUN_FILE = "run.json"
SUMMARY_FILE = "summary.json"
CURVES_FILE = "curves.png"
# Options that define a run: resuming with different values would silently train another one.
RUN_IDENTITY = ("model", "steps", "batch", "patch", "lr", "loss", "seed")
OUTPUT_NAMES = (RUN_FILE, METRICS_NAME, ckpt.CHECKPOINT_DIR, ckpt.BEST_NAME, ckpt.FINAL_NAME,
                CURVES_FILE, SUMMARY_FILE, "tensorboard")


class PretrainError(KitError):
    """A pre-training run that cannot start: bad options, data or run folder."""


@dataclass(frozen=True)
class PretrainConfig:
    """Everything `pretrain` needs; `None` means "choose for the device" where noted."""

    shards: Path
    model: str = "nafnet-sidd-w32"
    steps: int = 200_000
    batch: int = 32
    patch: int = 256
    lr: float = 1e-3
    loss: str = "psnr"
    val: Path | None = None
    val_limit: int = 8
    out: Path = Path("runs/pretrain")
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    workers: int = 2
    reader_threads: int = 0
    amp: str | None = None            # None: bf16 on CUDA, none on CPU
    channels_last: bool | None = None  # None: on for CUDA
    compile: bool = False
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    device: str | None = None          # None: cuda when available
    progress: bool = True

    def __post_init__(self):
        for name in ("shards", "out", "val"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        for name in ("steps", "batch", "patch", "log_every", "ckpt_every", "val_limit"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        for name in ("workers", "reader_threads", "val_every"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")
        if self.loss not in LOSSES:
            raise ConfigError("loss", f"must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.amp is not None and self.amp not in AMP_MODES:
            raise ConfigError("amp", f"must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.resume and self.overwrite:
            raise ConfigError(("resume", "overwrite"), "contradict each other; pick one")


@dataclass(frozen=True)
class PretrainResult:
    out: Path
    model_path: Path
    fit: FitResult
    summary: str


# ---------------------------------------------------------------- run folder

def _identity(config: PretrainConfig) -> dict:
    return {name: getattr(config, name) for name in RUN_IDENTITY}


def _run_record(config: PretrainConfig) -> dict:
    record = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
    return {"identity": _identity(config), "options": record}


def prepare_run_folder(config: PretrainConfig) -> None:
    """Create or check `config.out`: a fresh folder, an overwrite, a matching resume, or a run
    that stopped before its first checkpoint (nothing to keep: replaced by this one)."""
    out, run_file = config.out, config.out / RUN_FILE
    if run_file.exists() and not config.overwrite:
        record = json.loads(run_file.read_text())
        if ckpt.latest_checkpoint(out / ckpt.CHECKPOINT_DIR) is not None:
            _check_same_run(config, record["identity"], record["options"].get("workers"))
        elif not config.resume:
            print(f"note: {out} held a run that stopped before its first checkpoint; "
                  "starting this one in its place", file=sys.stderr)
            _remove_outputs(out)
    elif run_file.exists():
        _remove_outputs(out)
    elif config.resume:
        raise PretrainError(f"{out}: holds no run to resume", field="out")
    elif out.exists() and any(not is_lock_file(p) for p in out.iterdir()) and not config.overwrite:
        raise PretrainError(f"{out}: folder exists and is not a training run; choose another "
                            "folder or overwrite it", field="out")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(run_file, json.dumps(_run_record(config), indent=2) + "\n")


def _remove_outputs(out: Path) -> None:
    for name in OUTPUT_NAMES:
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)


def _check_same_run(config: PretrainConfig, saved: dict, saved_workers: int | None) -> None:
    if not config.resume:
        raise PretrainError(f"{config.out}: already holds a run ({saved['model']}, "
                            f"{saved['steps']} steps); resume it, or overwrite it to start over",
                            field="out")
    now = _identity(config)
    changed = [f"{k} {saved.get(k)} -> {now[k]}" for k in RUN_IDENTITY if saved.get(k) != now[k]]
    if changed:
        raise PretrainError(f"{config.out}: cannot resume with different options "
                            f"({', '.join(changed)}); use the run's options or another folder",
                            field="out")
    if saved_workers is not None and saved_workers != config.workers:
        print(f"note: workers {config.workers} differs from the run's {saved_workers}: the "
              f"data order after resuming will not match an uninterrupted run", file=sys.stderr)


def check_inputs(config: PretrainConfig) -> None:
    """What can be checked before anything is written: the preset, the shard folder (finished,
    its pairs at least as large as the patch)."""
    from pipelines.stages import dataset_patch, list_shards
    from trainer.models import get_preset

    try:
        get_preset(config.model)
    except ValueError as error:
        raise ConfigError("model", str(error)) from None
    list_shards(config.shards)
    built_patch = dataset_patch(config.shards)
    if built_patch and built_patch < config.patch:
        raise ConfigError("patch", f"{config.patch} is larger than the {built_patch}x{built_patch} "
                          f"pairs of {config.shards}")


# ---------------------------------------------------------------- data

def _per_rank_batch(batch: int, ranks: int) -> int:
    if batch % ranks:
        raise ConfigError("batch", f"{batch} does not split evenly over {ranks} processes")
    return batch // ranks


def batch_source(config: PretrainConfig, per_rank_batch: int):
    """`source(start)` for `fit`: this rank's batch stream from batch number `start` on.

    The reader's stream is endless and deterministic for (seed, ranks, workers) and continues
    across its epochs, so skipping `start` batches puts a resumed run exactly where the
    interrupted one was (at the cost of decoding the skipped batches once).
    """
    from pipelines.reader import train_loader

    def endless() -> Iterator[dict]:
        # epoch_length: the stream is endless and continues across epochs, so their length
        # changes no batch; giving it lets shard folders without a manifest train too.
        loader = train_loader(config.shards, per_rank_batch, config.patch, config.workers,
                              config.seed, epoch_length=config.steps,
                              as_uint8=True,  # Training.to_device scales them
                              threads=config.reader_threads)
        while True:
            yield from loader

    def source(start: int) -> Iterator[dict]:
        return itertools.islice(endless(), start, None)
    return source


def load_val_pairs(config: PretrainConfig) -> list:
    if config.val is None:
        return []
    from pipelines.pairs import iter_pairs

    pairs = list(iter_pairs(config.val, limit=config.val_limit))
    if not pairs:
        raise PretrainError(f"{config.val}: no image pairs found", field="val")
    return pairs


# ---------------------------------------------------------------- the run

def resolve_device(config: PretrainConfig, context: distributed.DistContext) -> PretrainConfig:
    """Fill the device-dependent defaults (amp, channels_last) from the chosen device."""
    cuda = context.device.type == "cuda"
    return replace(config, device=str(context.device),
                   amp=config.amp or ("bf16" if cuda else "none"),
                   channels_last=cuda if config.channels_last is None else config.channels_last)


def loop_config(config: PretrainConfig, is_main: bool) -> LoopConfig:
    return LoopConfig(steps=config.steps, lr=config.lr, loss=config.loss, amp=config.amp,
                      channels_last=config.channels_last, compile=config.compile,
                      log_every=config.log_every,
                      val_every=config.val_every if config.val else 0,
                      ckpt_every=config.ckpt_every, device=config.device,
                      progress=config.progress and is_main)


def dataset_reference(shards: Path) -> dict:
    """What a model file says about its training data: the shard folder's name and its
    manifest's sha256 and sample count, never a path of the training machine."""
    from pipelines.files import sha256_file

    manifest = Path(shards) / "manifest.json"
    if not manifest.is_file():  # plain *.tar shards from elsewhere: only their folder's name
        return {"name": Path(shards).resolve().name, "manifest_sha256": None, "samples": None}
    samples = json.loads(manifest.read_text()).get("totals", {}).get("samples")
    return {"name": Path(shards).resolve().name, "manifest_sha256": sha256_file(manifest),
            "samples": samples}


def _finish(config: PretrainConfig, model, result: FitResult, seconds: float) -> PretrainResult:
    from trainer.plots import plot_curves

    final = ckpt.save_model(config.out / ckpt.FINAL_NAME, model,
                            {"preset": config.model, "steps": result.steps, "seed": config.seed,
                             "loss": config.loss, "shards": dataset_reference(config.shards)})
    meaning = LOSS_MEANINGS[config.loss]
    plot_curves(config.out / METRICS_NAME, config.out / CURVES_FILE, title=config.model,
                loss_meaning=meaning)
    val = result.last_val or {}
    loss = "n/a" if result.final_loss is None else f"{result.final_loss:.4f}"
    summary = (f"pre-trained {config.model} for {result.steps} steps in {seconds:.0f}s "
               f"({result.images_per_s:.1f} img/s): final loss {loss} ({meaning})"
               + (f", val PSNR {val['psnr']:.2f} dB / SSIM {val['ssim']:.4f}" if val else "")
               + f" -> {final}")
    record = {"summary": summary, "steps": result.steps, "final_loss": result.final_loss,
              "loss_meaning": meaning,
              "val": val, "best_psnr": result.best_psnr, "seconds": seconds,
              "images_per_s": result.images_per_s, "model_sha256": sha256_file(final)}
    write_text_atomically(config.out / SUMMARY_FILE, json.dumps(record, indent=2) + "\n")
    return PretrainResult(config.out, final, result, summary)


def pretrain(config: PretrainConfig) -> PretrainResult | None:
    """Run (or resume) one pre-training run; returns the result on rank 0, None elsewhere."""
    from trainer.evaluate import validation_fn
    from trainer.models import create_model, start_at_identity

    began = time.perf_counter()
    context = distributed.init_from_env(config.device)
    config = resolve_device(config, context)
    per_rank = _per_rank_batch(config.batch, context.world_size)
    check_inputs(config)
    # only rank 0 validates, but every rank must agree that validation happens (barriers)
    val_pairs = load_val_pairs(config) if context.is_main else []
    with folder_lock(config.out, "training run") if context.is_main else nullcontext():
        if context.is_main:
            prepare_run_folder(config)
        distributed.barrier()
        torch.manual_seed(config.seed)
        model = create_model(config.model)
        start_at_identity(model)  # a resumed run loads its weights over this
        val_fn = validation_fn(val_pairs, context.device, config.amp) if config.val else None
        result = fit(model, batch_source(config, per_rank), loop_config(config, context.is_main),
                     val_fn=val_fn, out_dir=config.out, resume=True,
                     metadata={"preset": config.model})
        if not context.is_main:
            return None
        return _finish(config, model, result, time.perf_counter() - began)

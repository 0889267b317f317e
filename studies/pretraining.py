"""The pre-training arms: shards per chain mode from the clean sources, then one pre-training each.

Every arm uses the same model preset, steps, batch, patch, seed and clean sources (bsds500/train
and sun80 crops, never an evaluation image); only the chain mode of the shards differs:
`single` (one op), `fixed` (a random subset in canonical order), `prod` (random order and length
1..N over K ops). The `random` arm is the freshly initialised model, started at the identity as
every pre-training is (trainer.models.start_at_identity), and pre-trained on nothing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pipelines.files import write_text_atomically
from studies.datafolder import DataFolder
from studies.scales import ScaleConfig

PRETRAIN_MODES = ("single", "fixed", "prod")


@dataclass(frozen=True)
class PretrainedArm:
    """A base model for the fine-tuning runs and how it came about."""

    arm: str
    model: nn.Module
    summary: dict


def write_source_list(folder: DataFolder, path: Path) -> Path:
    """The clean sources (absolute paths, one per line) as a `--src-list` file."""
    return write_text_atomically(path, "".join(f"{p.resolve()}\n" for p in folder.clean_sources))


def build_mode_shards(mode: str, source_list: Path, out: Path, scale: ScaleConfig):
    """Shards of `scale.pretrain_pairs` pairs for one chain mode, always built afresh: a finished
    build is only reused by identical options, and an engine change keeps the options."""
    from pipelines.build import BuildConfig, build_shards

    return build_shards(BuildConfig(
        out=str(out), src_list=str(source_list), count=scale.pretrain_pairs,
        patch=scale.pretrain_patch, mode=mode, k=scale.prod_k, n=scale.prod_n, seed=scale.seed,
        fmt="npy", shard_size=max(64, scale.pretrain_pairs // 4),
        workers=1 if scale.device == "cpu" else None, overwrite=True, progress=False))


def pretrain_mode(shards: Path, out: Path, scale: ScaleConfig, device: str):
    """One pre-training run of the scale's preset on `shards` (always from scratch)."""
    from trainer.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(shards=shards, model=scale.model, steps=scale.pretrain_steps,
                            batch=scale.pretrain_batch, patch=scale.pretrain_patch,
                            lr=scale.pretrain_lr, out=out, overwrite=True, seed=scale.seed,
                            workers=0 if device == "cpu" else 4, device=device, progress=False,
                            log_every=max(1, scale.pretrain_steps // 10),
                            ckpt_every=scale.pretrain_steps, val_every=scale.pretrain_steps)
    return pretrain(config)


def random_init(scale: ScaleConfig) -> nn.Module:
    """The scale's preset, freshly initialised from the scale's seed and started at the
    identity, as `trainer pretrain` starts it."""
    from trainer.models import create_model, start_at_identity

    torch.manual_seed(scale.seed)
    model = create_model(scale.model)
    start_at_identity(model)
    return model


def pretrained_arms(folder: DataFolder, scale: ScaleConfig, work: Path, device: str,
                    log=print) -> list[PretrainedArm]:
    """Random init, then Single, Fixed and PROD pre-trained models (in that order)."""
    from trainer.checkpoint import load_model

    arms = [PretrainedArm("random", random_init(scale), {"steps": 0})]
    source_list = write_source_list(folder, work / "pretrain-sources.txt")
    for mode in PRETRAIN_MODES:
        began = time.perf_counter()
        built = build_mode_shards(mode, source_list, work / f"shards-{mode}", scale)
        result = pretrain_mode(work / f"shards-{mode}", work / f"pretrain-{mode}", scale, device)
        model, _ = load_model(result.model_path, device)
        seconds = time.perf_counter() - began
        summary = {"steps": result.fit.steps, "final_loss": result.fit.final_loss,
                   "pairs": built.pairs, "seconds": seconds}
        log(f"pre-trained {mode}: {built.pairs} pairs, {result.fit.steps} steps, "
            f"final loss {result.fit.final_loss:.3f} (-PSNR in dB), {seconds:.1f} s")
        arms.append(PretrainedArm(mode, model, summary))
    return arms

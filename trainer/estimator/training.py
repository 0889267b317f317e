"""Training the estimator on shards, the chain records as labels: BCE on presence plus L1 on
the level of the ops present (masked), AdamW with a cosine schedule, metrics.jsonl,
checkpoints, and exact resume (the batch stream is deterministic and skipped to the step).

Inputs keep JPEG's 8x8 grid: whole shard samples are read (flips and quarter turns of a square
whose side is a multiple of 8 keep the grid on multiples of 8), then cropped at offsets that
are multiples of 8. A share of each batch is redrawn as one op of the pool alone (`singles`),
a share beyond the sampled range (`wide`) and, optionally, a share as a camera makes a
photograph (`camera`, off by default). After the steps the head is refitted on frozen features
of another pass over the shards (`headfit`), optionally a share of it camera-like too.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from degrade.errors import ConfigError, KitError
from degrade.seeding import (ESTIMATOR_CAMERA, ESTIMATOR_CROP, ESTIMATOR_SINGLE, ESTIMATOR_WIDE,
                             sample_seed)
from pipelines.files import remove_stale_temporaries, write_text_atomically
from pipelines.folderlock import folder_lock
from trainer import checkpoint as ckpt
from trainer.estimator.camera import redraw_camera
from trainer.estimator.files import estimator_metadata, save_estimator
from trainer.estimator.headfit import HeadFit, collect_features, refit_head
from trainer.estimator.labels import BatchLabeller, LabelError, pool_of_shards
from trainer.estimator.model import GRID, LEVEL_SPAN, DegradationEstimator, parameter_count
from trainer.estimator.singles import redraw_single
from trainer.estimator.wide import redraw_wide, wide_ops

METRICS_NAME = "metrics.jsonl"
RUN_NAME = "run.json"
WARMUP_STEPS = 50


class EstimatorTrainError(KitError):
    """A training run that cannot start or continue: bad data, options or run folder."""


@dataclass(frozen=True)
class EstimatorTrainConfig:
    shards: str
    out: str
    steps: int = 4200
    batch: int = 16
    patch: int = 128
    lr: float = 5e-3
    weight_decay: float = 1e-4
    level_weight: float = 2.0
    level_span: float = LEVEL_SPAN
    wide_share: float = 0.125
    single_share: float = 0.5
    camera_share: float = 0.0
    head_crops: int = 8192
    head_camera_share: float = 0.0
    seed: int = 0
    device: str = "cpu"
    workers: int = 0
    log_every: int = 20
    ckpt_every: int = 100
    progress: bool = True

    def check(self) -> None:
        """ConfigError naming the first field that cannot work."""
        for name in ("steps", "batch", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.patch < 16 or self.patch % GRID:
            raise ConfigError("patch", f"{self.patch} must be a multiple of 8 (JPEG's block "
                                       f"grid), at least 16")
        if self.workers < 0:
            raise ConfigError("workers", f"must be >= 0, got {self.workers}")
        if self.lr <= 0:
            raise ConfigError("lr", f"must be positive, got {self.lr}")
        if not self.level_span >= 1.0:
            raise ConfigError("level_span", f"must be at least 1 (the sampled range), got "
                                            f"{self.level_span}")
        if self.head_crops < 0:
            raise ConfigError("head_crops", f"must be >= 0, got {self.head_crops}")
        for name in ("wide_share", "single_share", "camera_share",
                     "head_camera_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(name, f"must be in [0, 1], got {getattr(self, name)}")

    @property
    def wide_count(self) -> int:
        """Images of each batch redrawn beyond the sampled range."""
        return int(round(self.wide_share * self.batch))

    @property
    def single_count(self) -> int:
        """Images of each batch redrawn as one op of the pool (trainer.estimator.singles)."""
        return int(round(self.single_share * self.batch))

    def identity(self) -> dict:
        """The fields a resumed run must share with the original (the head refit comes after
        every step, from the last checkpoint, so a resumed run may change `head_crops` and
        `head_camera_share`)."""
        fields = asdict(self)
        return {k: fields[k] for k in ("steps", "batch", "patch", "lr", "weight_decay",
                                       "level_weight", "level_span", "wide_share", "single_share",
                                       "camera_share", "seed")}


# what runs saved before a field existed trained with (so that they still resume)
LEGACY_IDENTITY = {"level_span": 1.0, "wide_share": 0.0, "single_share": 0.0,
                   "camera_share": 0.0}


def estimator_loss(logits, levels, presence, target_levels, level_weight: float,
                   family_logits=None, family_presence=None):
    """(total, bce, masked level L1): L1 only where the op is present; the BCE is over the
    op logits and, when given, the family logits (one mean over both)."""
    if family_logits is not None and family_logits.shape[1]:
        logits = torch.cat([logits, family_logits], dim=1)
        presence = torch.cat([presence, family_presence], dim=1)
    bce = F.binary_cross_entropy_with_logits(logits, presence)
    mask = presence[:, :levels.shape[1]]
    l1 = ((levels - target_levels).abs() * mask).sum() / mask.sum().clamp(min=1.0)
    return bce + level_weight * l1, bce, l1


def aligned_crop(images: torch.Tensor, patch: int, rng: np.random.Generator) -> torch.Tensor:
    """One patch x patch crop of the batch at offsets that are multiples of 8: the project's
    crop rule (degrade.crops) applied on the grid of 8x8 blocks."""
    from degrade.crops import random_window

    height, width = images.shape[-2:]
    if height < patch or width < patch:
        raise EstimatorTrainError(f"shard images are {height}x{width}, smaller than the "
                                  f"training patch {patch}; use a `patch` of at most "
                                  f"{min(height, width) // GRID * GRID}")
    top, left = random_window(rng, (height // GRID, width // GRID), patch // GRID)
    y, x = GRID * top, GRID * left
    return images[..., y:y + patch, x:x + patch]


def batch_source(config: EstimatorTrainConfig, ops: list[str], camera_share: float = 0.0):
    """`source(start)`: (lq uint8 B x 3 x patch x patch, presence, level) batches from batch
    number `start` on; endless, the same for the same seed and worker count. Images stay
    8-bit until `model_input` (a quarter of the bytes to move, and scaled on the device);
    labels are derived in the loader's workers. `camera_share` of each batch is redrawn
    camera-like (the config's for the steps, its head-refit share for the head refit)."""
    from pipelines.reader import train_loader

    def endless() -> Iterator[dict]:
        loader = train_loader(config.shards, config.batch, 0, config.workers, config.seed,
                              as_uint8=True, batch_map=BatchLabeller(ops))
        while True:
            yield from loader

    beyond = wide_ops(ops, config.level_span) if config.wide_count else []

    def source(start: int):
        for step, batch in enumerate(itertools.islice(endless(), start, None), start=start):
            if "label_error" in batch:
                raise LabelError(batch["label_error"])
            rng = np.random.default_rng(sample_seed(config.seed, step, ESTIMATOR_CROP))
            lq, presence, level = redraw_single(
                batch["lq"], batch["gt"], batch["presence"], batch["level"], ops,
                config.single_count,
                np.random.default_rng(sample_seed(config.seed, step, ESTIMATOR_SINGLE)))
            lq, presence, level = redraw_wide(
                lq, batch["gt"], presence, level, beyond,
                config.wide_count,
                np.random.default_rng(sample_seed(config.seed, step, ESTIMATOR_WIDE)))
            lq, presence, level = redraw_camera(
                lq, batch["gt"], presence, level, ops, int(round(camera_share * config.batch)),
                np.random.default_rng(sample_seed(config.seed, step, ESTIMATOR_CAMERA)))
            yield (aligned_crop(lq, config.patch, rng), torch.from_numpy(presence),
                   torch.from_numpy(level))
    return source


def model_input(lq: torch.Tensor, device: str) -> torch.Tensor:
    """A uint8 batch from `batch_source` as the model's float input on `device`: x / 255,
    the same values on every device (pipelines.batching's to_float)."""
    from pipelines.batching import to_float, to_float_on_device

    if torch.device(device).type == "cpu":
        return to_float(lq.contiguous()).contiguous(memory_format=memory_format(device))
    return to_float_on_device(lq.to(device, non_blocking=True))


def memory_format(device: str) -> torch.memory_format:
    """How the estimator's activations are laid out on `device` in training: channels last on
    the CPU, where oneDNN's convolutions ran a training step of 16 crops 1.2-1.3 times faster
    with it (`bench/bench_estimator.py --train-step` prints the ratio; inference gained
    nothing); the default elsewhere, where it is unmeasured."""
    if torch.device(device).type == "cpu":
        return torch.channels_last
    return torch.contiguous_format


def shard_ops(shards: str) -> list[str]:
    """The estimator's op list: the training shards' pool (EstimatorTrainError if unreadable)."""
    try:
        ops = pool_of_shards(shards)
    except LabelError as error:
        raise EstimatorTrainError(str(error)) from None
    if not ops:
        raise EstimatorTrainError(f"{shards}: the shards' op pool is empty")
    return ops


def _check_shard_size(config: EstimatorTrainConfig) -> None:
    """Refuse, before anything is written, shards whose crops are smaller than the patch (the
    manifest records the build's crop size; 0, whole images, is checked batch by batch)."""
    import json

    from pipelines.schema import MANIFEST_NAME

    manifest = json.loads((Path(config.shards) / MANIFEST_NAME).read_text(encoding="utf-8"))
    side = int(manifest.get("config", {}).get("patch") or 0)
    if 0 < side < config.patch:
        raise EstimatorTrainError(f"{config.shards}: shard images are {side}x{side}, smaller "
                                  f"than the training patch {config.patch}; use a `patch` of "
                                  f"at most {side // GRID * GRID}")


def _schedule(step: int, config: EstimatorTrainConfig) -> float:
    """Learning-rate factor: linear warm-up, then cosine to zero at `steps`."""
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(config.steps - WARMUP_STEPS, 1)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _prepare_folder(config: EstimatorTrainConfig, resume: bool) -> int:
    """The step to start from (0, or the newest checkpoint's when resuming)."""
    out = Path(config.out)
    run_path = out / RUN_NAME
    if not resume:
        if (out / METRICS_NAME).exists() or run_path.exists():
            raise EstimatorTrainError(f"{out}: already holds an estimator run; `resume` it or "
                                      f"choose another `out`")
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomically(run_path, json.dumps(config.identity(), indent=1) + "\n")
        return 0
    if not run_path.exists():
        raise EstimatorTrainError(f"{out}: no estimator run to resume ({RUN_NAME} missing)")
    saved = json.loads(run_path.read_text(encoding="utf-8"))
    changed = sorted(k for k, v in config.identity().items()
                     if saved.get(k, LEGACY_IDENTITY.get(k)) != v)
    if changed:
        raise EstimatorTrainError(f"{out}: the run was started with other {', '.join(changed)}; "
                                  f"resume with the same options or use a new `out`")
    remove_stale_temporaries(out / ckpt.CHECKPOINT_DIR)
    latest = ckpt.latest_checkpoint(out / ckpt.CHECKPOINT_DIR)
    return 0 if latest is None else latest[0]


def _model_to_train(config: EstimatorTrainConfig, ops: list[str], out: Path,
                    step: int) -> DegradationEstimator:
    """A fresh estimator of today's design, or, resuming, the architecture the run's checkpoint
    was saved with (a run started before a design change finishes as it began)."""
    if step == 0:
        return DegradationEstimator(ops, level_span=config.level_span)
    weights, _ = ckpt.checkpoint_paths(out / ckpt.CHECKPOINT_DIR, step)
    saved = ckpt.decode_metadata(ckpt.read_metadata(weights)).get("config")
    try:
        return DegradationEstimator.from_config(saved)
    except (KeyError, TypeError, ValueError) as error:
        raise EstimatorTrainError(f"{weights}: broken estimator config ({error})") from None


def _restore(model, optimizer, out: Path, step: int) -> None:
    if step == 0:
        return
    weights, state_path = ckpt.checkpoint_paths(out / ckpt.CHECKPOINT_DIR, step)
    ckpt.load_weights(model, ckpt.read_tensors(weights), weights, strict=True)
    state = ckpt.load_train_state(state_path)
    optimizer.load_state_dict(state["optimizer"])
    ckpt.set_rng_states(state["rng"])


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records logged after the checkpoint a resumed run restarts from."""
    if path.exists():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        write_text_atomically(path, "".join(line + "\n" for line in kept))


@dataclass
class TrainResult:
    steps: int
    last_loss: float
    seconds: float
    model_path: Path
    parameters: int
    head_refit: dict | None = None


def train_estimator(config: EstimatorTrainConfig, resume: bool = False) -> TrainResult:
    """Train (or resume) an estimator; writes OUT/model.safetensors at the end."""
    config.check()
    ops = shard_ops(config.shards)
    _check_shard_size(config)
    with folder_lock(config.out, "training run"):  # one writer per run folder
        return _train_in_locked_folder(config, ops, resume)


def _train_in_locked_folder(config: EstimatorTrainConfig, ops: list[str],
                            resume: bool) -> TrainResult:
    start = _prepare_folder(config, resume)
    torch.manual_seed(config.seed)
    if torch.device(config.device).type == "cuda":
        torch.backends.cudnn.benchmark = True  # one input shape: pick the fastest kernels
    model = _model_to_train(config, ops, Path(config.out), start).to(
        config.device, memory_format=memory_format(config.device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    out = Path(config.out)
    _restore(model, optimizer, out, start)
    _truncate_metrics(out / METRICS_NAME, start)
    began = time.perf_counter()
    last_loss = _run_steps(model, optimizer, config, ops, start)
    head = _refit_head(model, config, ops) if config.head_crops else None
    final = save_estimator(out / ckpt.FINAL_NAME, model, _training_info(config, head))
    return TrainResult(config.steps, last_loss, time.perf_counter() - began, final,
                       parameter_count(model), head)


def _refit_head(model, config: EstimatorTrainConfig, ops: list[str]) -> dict:
    """The head refitted on features of `head_crops` crops of another pass over the shards (the
    stream of seed + 1: no need to read through the training steps' batches to reach it), a
    `head_camera_share` of them camera-like."""
    batches = batch_source(replace(config, seed=config.seed + 1), ops,
                           config.head_camera_share)(0)
    features = collect_features(model, batches, config.head_crops, config.device,
                                config.progress)
    return refit_head(model, *features, HeadFit(level_weight=config.level_weight,
                                                seed=config.seed))


def _training_info(config: EstimatorTrainConfig, head: dict | None = None) -> dict:
    info = {"shards": str(config.shards), **config.identity()}
    if head is not None:
        info["head_refit"] = dict(head, camera_share=config.head_camera_share)
    return {"training": info}


def _run_steps(model, optimizer, config: EstimatorTrainConfig, ops: list[str],
               start: int) -> float:
    from tqdm import tqdm

    out = Path(config.out)
    bar = tqdm(total=config.steps, initial=start, unit="step", desc="estimator",
               disable=not config.progress, dynamic_ncols=True)
    sums, count, tick, images = np.zeros(3), 0, time.perf_counter(), 0
    last = _last_logged_loss(out / METRICS_NAME)  # a resumed finished run runs no step
    model.train()
    try:
        batches = batch_source(config, ops, config.camera_share)(start)
        for step in range(start, config.steps):
            lq, presence, level = next(batches)
            lq = model_input(lq, config.device)
            presence, level = presence.to(config.device), level.to(config.device)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _schedule(step, config)
            logits, predicted, families = model.forward_with_families(lq)
            total, bce, l1 = estimator_loss(logits, predicted, presence, level,
                                            config.level_weight, families,
                                            model.family_presence(presence))
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            sums += [total.item(), bce.item(), l1.item()]
            count, images = count + 1, images + lq.shape[0]
            bar.update(1)
            done = step + 1
            if done % config.log_every == 0 or done == config.steps:
                last = _log(out, done, sums / count, optimizer, images, tick, bar)
                sums, count, tick, images = np.zeros(3), 0, time.perf_counter(), 0
            if done % config.ckpt_every == 0 or done == config.steps:
                _checkpoint(model, optimizer, config, done)
    except LabelError as error:
        raise EstimatorTrainError(f"{config.shards}: {error}") from None
    finally:
        bar.close()
    return last


def _last_logged_loss(path: Path) -> float:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.exists() else []
    return float(json.loads(lines[-1])["loss"]) if lines else float("nan")


def _log(out: Path, step: int, means, optimizer, images: int, tick: float, bar) -> float:
    rate = images / max(time.perf_counter() - tick, 1e-9)
    record = {"step": step, "loss": float(means[0]), "bce": float(means[1]),
              "level_l1": float(means[2]), "lr": optimizer.param_groups[0]["lr"],
              "img_per_s": rate}
    with open(out / METRICS_NAME, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    bar.set_postfix(loss=f"{record['loss']:.4f}", img_s=f"{rate:.1f}", refresh=False)
    return record["loss"]


def _checkpoint(model, optimizer, config: EstimatorTrainConfig, step: int) -> None:
    state = {"step": step, "optimizer": optimizer.state_dict(), "rng": ckpt.rng_states()}
    ckpt.save_checkpoint(Path(config.out) / ckpt.CHECKPOINT_DIR, step, model.state_dict(),
                         estimator_metadata(model, _training_info(config)), state)

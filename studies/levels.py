"""The level-adapter study: one level-conditioned adapter against dedicated per-level adapters,
a blind adapter, the paper's full form and the base model, over a sweep of degradation levels on
CBSD68 (trainer.adapters.levels; the hyper-network paper's protocol at small scale).

Per task (noise sigma, JPEG quality): a PROD pre-trained base (cached in the work folder),
FAIG on pairs at the trained levels, then
  dedicated   one CoLoRA adapter per trained level (trained on that level only)
  blind       one CoLoRA adapter trained on all trained levels, without c
  levels      our level adapter (FAIG ranks, both terms in the budget), true c
  levels-full the paper's W0 + c W1 on every parameter, true c
  levels-est  the levels adapter with c from the degradation estimator (as `--level auto`)
  base        the pre-trained model alone
The level arms and blind see every crop of a batch at each trained level (the paper's recipe);
each dedicated adapter is trained with the same schedule (steps, images per step) at its one
level, as the paper trains its dedicated networks with the hyper-network's recipe. Every arm is
scored on the same degraded CBSD68 crops (paired per-image PSNRs).
"""
from __future__ import annotations

import copy
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from studies.datafolder import DataFolderError, _require_images

# torch is imported where used: bench/levels.py --help and --plan stay light.
ARMS = ("base", "blind", "levels", "levels-full", "levels-est")
ARM_LABELS = {"base": "base model", "blind": "blind CoLoRA", "levels": "levels (true c)",
              "levels-full": "levels-full (true c)", "levels-est": "levels (estimated c)",
              "dedicated": "dedicated CoLoRA", "input": "input"}


class RerunError(ValueError):
    """A rerun or rescore that does not match the run it would change (one line)."""


@dataclass(frozen=True)
class LevelTask:
    """A task of the study: its op, the trained levels and the sweep (natural units)."""

    name: str
    op: str
    trained: tuple[float, ...]
    sweep: tuple[float, ...]


TASKS = (
    LevelTask("noise", "gaussian_noise", (15, 35, 55, 75), tuple(range(5, 80, 5))),
    LevelTask("jpeg", "jpeg", (10, 30, 50, 80), tuple(range(10, 100, 10))),
)


@dataclass(frozen=True)
class LevelStudyConfig:
    """Every size of one run. Blind and the level arms take `level_steps` steps of
    `level_crops` crops, each at every trained level (k levels: level_crops x k images a step);
    each dedicated adapter takes the same steps of level_crops x k crops at its one level."""

    name: str
    device: str
    model: str
    pretrain_pairs: int
    pretrain_patch: int
    pretrain_steps: int
    pretrain_batch: int
    train_crops: int
    train_crop: int
    patch: int
    level_steps: int
    level_crops: int
    eval_count: int
    eval_crop: int
    faig_target_steps: int
    faig_pairs: int
    faig_steps: int
    pretrain_lr: float = 1e-3
    lr: float = 5e-4
    budget: float = 0.07
    level_centre: str = "zero"  # the level arms' c anchor: zero (the paper's) or middle
    timing_size: int = 256
    seed: int = 0


CONFIGS = {
    # ~25 CPU minutes on one core of an idle 2-core host (bench/levels.py --plan prints the
    # estimate); the effect sizes resolve with 24 images (docs/levels.md).
    "cpu": LevelStudyConfig(
        name="cpu", device="cpu", model="nafnet-tiny", pretrain_pairs=2048, pretrain_patch=48,
        pretrain_steps=800, pretrain_batch=8, train_crops=64, train_crop=96, patch=48,
        level_steps=600, level_crops=2,
        eval_count=24, eval_crop=128, faig_target_steps=40, faig_pairs=16, faig_steps=20),
    # One H200 run of at most 9 minutes, start-up included: nafnet-small steps are bound by
    # per-step overhead (~50 ms, docs/benchmarks.md), so 1000 pre-training steps (~1 min), per
    # task 4 x 300 dedicated + 300 blind + 300 levels (~2x a CoLoRA step) + 300 levels-full
    # (~3x) steps (~2.5 min), 48 CBSD68 crops of 256 px at 33 arm-levels (~1 min) and
    # start-up, data and FAIG (~1.5 min): about 8.5 minutes. Not run on a GPU in this session.
    "cuda": LevelStudyConfig(
        name="cuda", device="cuda", model="nafnet-small", pretrain_pairs=4096,
        pretrain_patch=64, pretrain_steps=1000, pretrain_batch=16, train_crops=128,
        train_crop=128, patch=64, level_steps=300, level_crops=4, eval_count=48, eval_crop=256, faig_target_steps=50, faig_pairs=16,
        faig_steps=25),
    # The end-to-end test's: seconds.
    "test": LevelStudyConfig(
        name="test", device="cpu", model="nafnet-tiny", pretrain_pairs=16, pretrain_patch=32,
        pretrain_steps=2, pretrain_batch=2, train_crops=4, train_crop=40, patch=24,
        level_steps=2, level_crops=1, eval_count=2,
        eval_crop=32, faig_target_steps=1, faig_pairs=2, faig_steps=2, timing_size=32),
}


# ---------------------------------------------------------------- data

@dataclass(frozen=True)
class StudyData:
    clean_sources: tuple[Path, ...]
    evaluation: tuple[Path, ...]


def check_study_data(root) -> StudyData:
    """bsds500/train + sun80 (clean sources) and cbsd68 (evaluation); DataFolderError naming
    what is missing."""
    root = Path(root)
    if not root.is_dir():
        raise DataFolderError(f"data folder {root} does not exist (expected bsds500/, sun80/ "
                              f"and cbsd68/ inside)")
    sources = _require_images(root, "bsds500/train", 1) + _require_images(root, "sun80", 1)
    return StudyData(tuple(sources), tuple(_require_images(root, "cbsd68", 1)))


def clean_crops(paths, count: int, size: int, seed: int) -> list[np.ndarray]:
    """`count` clean crops from distinct sources (cycling), from (seed, index) alone."""
    from degrade.seeding import STUDY_CLEAN_CROP, sample_seed
    from pipelines.sources import load_image
    from trainer.tasks import random_crop

    order = np.random.default_rng(sample_seed(seed, 0, STUDY_CLEAN_CROP)).permutation(len(paths))
    return [random_crop(load_image(paths[int(order[i % len(order)])]), size,
                        np.random.default_rng(sample_seed(seed, i, STUDY_CLEAN_CROP)))
            for i in range(count)]


def evaluation_images(paths, count: int, crop: int) -> list[tuple[str, np.ndarray]]:
    from pipelines.sources import load_image
    from studies.downstream import centre_crop

    return [(p.stem, centre_crop(load_image(p), crop)) for p in list(paths)[:count]]


def degraded_sets(task: LevelTask, images, seed: int) -> dict[float, list[np.ndarray]]:
    """Every evaluation image degraded at every sweep level; image i's draws from (seed, i)."""
    from trainer.finetune.level_data import synthesise_level_pairs

    gts = [gt for _, gt in images]
    return {v: [lq for _, lq, _ in synthesise_level_pairs(gts, task.op, v, seed)]
            for v in task.sweep}


# ---------------------------------------------------------------- models

def base_key(config: LevelStudyConfig) -> dict:
    """What a cached base must have been pre-trained with. `trainer pretrain` starts from the
    identity (trainer.models.start_at_identity); a base cached before it did has no `start` in
    its key and is pre-trained again."""
    return {k: v for k, v in asdict(config).items() if k.startswith("pretrain") or k in
            ("model", "seed")} | {"start": "identity"}


def cached_base(config: LevelStudyConfig, work: Path):
    """The base a run with the same pre-training sizes left in `work`, or None."""
    import json

    from trainer.checkpoint import load_model

    stamp = work / "base" / "study-key.json"
    model_path = work / "base" / "run" / "model.safetensors"
    if model_path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == base_key(config):
        return load_model(model_path)[0]
    return None


def pretrained_base(data: StudyData, config: LevelStudyConfig, work: Path, log) -> nn.Module:
    """The PROD pre-trained base, reused from `work` when a run with the same sizes made it."""
    import json

    from studies.pretraining import build_mode_shards, pretrain_mode, write_source_list
    from studies.scales import ScaleConfig
    from trainer.checkpoint import load_model

    folder = work / "base"
    model_path = folder / "run" / "model.safetensors"
    cached = cached_base(config, work)
    if cached is not None:
        log(f"base: reusing {model_path}")
        return cached
    scale = ScaleConfig(name=config.name, device=config.device, model=config.model,
                        pretrain_pairs=config.pretrain_pairs, pretrain_patch=config.pretrain_patch,
                        pretrain_steps=config.pretrain_steps, pretrain_batch=config.pretrain_batch,
                        pretrain_lr=config.pretrain_lr, train_counts=(1,), faig_pairs=1,
                        seed=config.seed)
    folder.mkdir(parents=True, exist_ok=True)
    sources = write_source_list(_AsFolder(data.clean_sources), folder / "sources.txt")
    log(f"base: building {config.pretrain_pairs} PROD pairs, pre-training "
        f"{config.pretrain_steps} steps")
    build_mode_shards("prod", sources, folder / "shards", scale)
    pretrain_mode(folder / "shards", folder / "run", scale, config.device)
    (folder / "study-key.json").write_text(json.dumps(base_key(config)))
    return load_model(model_path)[0]


@dataclass(frozen=True)
class _AsFolder:
    clean_sources: tuple


def faig_scores(base: nn.Module, task: LevelTask, crops, config: LevelStudyConfig) -> dict:
    """FAIG contributions of the task at its trained levels (pairs interleaved by level)."""
    from trainer.faig import faig_report, scores_from_report
    from trainer.finetune import TrainConfig, task_faig
    from trainer.finetune.level_data import synthesise_level_pairs

    per_level = [synthesise_level_pairs(crops, task.op, v, config.seed) for v in task.trained]
    pairs = [p for group in zip(*per_level) for p in group][:config.faig_pairs]
    tune = TrainConfig(steps=config.faig_target_steps, batch=4, patch=config.patch,
                       lr=config.lr, device=config.device, seed=config.seed, progress=False)
    per_task = task_faig(base, {task.name: pairs}, None, tune, config.faig_steps,
                         config.faig_pairs)
    return scores_from_report(faig_report(base, per_task, config.faig_steps))


def train_arm(base: nn.Module, method: str, task: LevelTask, values, crops, scores,
              config: LevelStudyConfig, steps: int, crops_per_step: int):
    """(adapted model, plan, CPU seconds) of one arm trained on `values` of the task's op."""
    from trainer.adapters import get_method, method_config
    from trainer.adapters.levels import centred
    from trainer.finetune import TrainConfig, finetune
    from trainer.finetune.level_data import LevelSpec, level_batches

    spec = LevelSpec(task.op, tuple(float(v) for v in values))
    adapter = method_config(method, {"budget": config.budget, "seed": config.seed},
                            strict=False)
    if get_method(method).levels and config.level_centre == "middle":
        adapter = centred(adapter, spec.scale())
    train = TrainConfig(steps=steps, batch=crops_per_step, patch=config.patch, lr=config.lr,
                        device=config.device, seed=config.seed, progress=False)
    batches = level_batches(crops, spec, crops_per_step, config.patch, config.seed)
    cpu = time.process_time()
    result = finetune(copy.deepcopy(base), [], method, train, adapter, scores, batches=batches)
    return result.model.eval(), result.plan, time.process_time() - cpu


# ---------------------------------------------------------------- scoring

def restore_psnrs(model: nn.Module, lqs, gts, device: str, levels=None) -> list[float]:
    """Per-image PSNR of the model's outputs; levels: c per image for a level adapter."""
    from trainer.adapters import set_level
    from trainer.metrics import psnr
    from trainer.restore import restore_image

    scores = []
    for i, (lq, gt) in enumerate(zip(lqs, gts)):
        if levels is not None:
            set_level(model, levels[i])
        scores.append(psnr(restore_image(model, lq, device), gt))
    return scores


def score_task(task: LevelTask, models: dict, dedicated: dict, scale, estimator, sets, gts,
               device: str) -> dict:
    """{arm: {level: [per-image PSNR]}}, the estimated levels, and the input's PSNRs."""
    from trainer.metrics import psnr

    out = {arm: {} for arm in (*ARMS, "dedicated", "input")}
    estimated = {}
    for value, lqs in sets.items():
        key = f"{value:g}"
        true_c = [scale.level(value)] * len(lqs)
        out["input"][key] = [psnr(lq, gt) for lq, gt in zip(lqs, gts)]
        out["base"][key] = restore_psnrs(models["base"], lqs, gts, device)
        out["blind"][key] = restore_psnrs(models["blind"], lqs, gts, device)
        out["levels"][key] = restore_psnrs(models["levels"], lqs, gts, device, true_c)
        out["levels-full"][key] = restore_psnrs(models["levels-full"], lqs, gts, device, true_c)
        estimated[key], out["levels-est"][key] = score_estimated(models["levels"], scale,
                                                                 estimator, lqs, gts, device)
        if value in dedicated:
            out["dedicated"][key] = restore_psnrs(dedicated[value], lqs, gts, device)
    return {"psnr": out, "estimated": estimated}


def score_estimated(model: nn.Module, scale, estimator, lqs, gts, device: str):
    """(estimated natural levels, PSNRs) of a level adapter with c from the estimator, as
    `--level auto` sets it (clipped to the trained range)."""
    from trainer.levelling import estimate_natural

    naturals = [estimate_natural(estimator, scale, lq, False, device) for lq in lqs]
    return naturals, restore_psnrs(model, lqs, gts, device, [scale.level(v) for v in naturals])


def inference_cost(models: dict, size: int, device: str, repeats: int = 3) -> dict:
    """Median forward seconds of one size x size image and of a batch of 4 with a c per image,
    for the plain CoLoRA (a dedicated adapter), levels and levels-full; and the ratios."""
    import torch

    from trainer.adapters import set_level

    x1 = torch.rand(1, 3, size, size, device=device)
    x4 = torch.rand(4, 3, size, size, device=device)
    per_image_c = torch.tensor([0.3, 0.6, 0.9, 1.2])

    def timed(model, x, level=None):
        with torch.no_grad():
            if level is not None:
                set_level(model, level)
            model(x)
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                model(x)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - began)
        return float(np.median(times))

    colora = models["dedicated"]
    rows = {"colora": {"one": timed(colora, x1), "batch4": timed(colora, x4)}}
    for arm in ("levels", "levels-full"):
        rows[arm] = {"one": timed(models[arm], x1, 0.5),
                     "batch4": timed(models[arm], x4, per_image_c)}
    for arm in ("levels", "levels-full"):
        rows[arm]["ratio_one"] = rows[arm]["one"] / rows["colora"]["one"]
        rows[arm]["ratio_batch4"] = rows[arm]["batch4"] / rows["colora"]["batch4"]
    return rows


# ---------------------------------------------------------------- the run

def cpu_time() -> float:
    """CPU seconds of this process and its finished children (shard-building workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def train_dedicated(base, task: LevelTask, crops, scores, config: LevelStudyConfig, log):
    """One CoLoRA adapter per trained level, with the level arms' schedule."""
    dedicated, cpu_seconds, plan = {}, {}, None
    for value in task.trained:
        log(f"{task.name}: dedicated CoLoRA at {value:g}")
        dedicated[value], plan, cpu_seconds[f"dedicated-{value:g}"] = train_arm(
            base, "colora", task, (value,), crops, scores, config, config.level_steps,
            config.level_crops * len(task.trained))
    return dedicated, plan, cpu_seconds


def adapter_path(adapters: Path, task: str, arm: str) -> Path:
    """Where a run keeps one trained arm's adapter (`dedicated-15`, `levels`...)."""
    return Path(adapters) / f"{task}-{arm}.safetensors"


def save_arms(adapters: Path, task: LevelTask, scale, models: dict, dedicated: dict) -> None:
    """Every trained arm's adapter, so that an arm can be scored again without training (a new
    estimator for levels-est: rescore_estimated)."""
    from trainer.adapters import save_adapter
    from trainer.adapters.levels import INFO_KEY

    Path(adapters).mkdir(parents=True, exist_ok=True)
    for arm in [a for a in ("blind", "levels", "levels-full") if a in models]:
        info = {INFO_KEY: scale.to_dict()} if arm != "blind" else {}
        save_adapter(adapter_path(adapters, task.name, arm), models[arm], info=info)
    for value, model in dedicated.items():
        save_adapter(adapter_path(adapters, task.name, f"dedicated-{value:g}"), model)


def run_task(task: LevelTask, base, crops, images, estimator, config: LevelStudyConfig,
             log, adapters: Path | None = None) -> dict:
    from trainer.adapters import LevelScale

    began, cpu = time.perf_counter(), cpu_time()
    scale = LevelScale.for_op(task.op, task.trained)
    log(f"{task.name}: FAIG at {task.trained}")
    scores = faig_scores(base, task, crops, config)
    dedicated, plans = {}, {}
    dedicated, plans["dedicated"], cpu_seconds = train_dedicated(base, task, crops, scores,
                                                                 config, log)
    models = {"base": base.eval()}
    for arm, method in (("blind", "colora"), ("levels", "levels"),
                        ("levels-full", "levels-full")):
        log(f"{task.name}: {arm}")
        models[arm], plans[arm], cpu_seconds[arm] = train_arm(
            base, method, task, task.trained, crops, scores, config, config.level_steps,
            config.level_crops)
    if adapters is not None:
        save_arms(adapters, task, scale, models, dedicated)
    log(f"{task.name}: scoring {len(task.sweep)} levels x {len(images)} images")
    gts = [gt for _, gt in images]
    sets = degraded_sets(task, images, config.seed + 1)
    scored = score_task(task, models, dedicated, scale, estimator, sets, gts, config.device)
    models["dedicated"] = dedicated[task.trained[0]]
    cost = inference_cost(models, config.timing_size, config.device)
    return {"task": asdict(task), "scale": scale.to_dict(), **scored,
            "tuned": {arm: plan.tuned_count for arm, plan in plans.items()},
            "model_params": plans["levels"].model_params, "train_cpu_seconds": cpu_seconds,
            "inference": cost, "wall_seconds": time.perf_counter() - began,
            "cpu_seconds": cpu_time() - cpu}


RERUN_ARMS = ("dedicated", "blind", "levels", "levels-full")


def rerun_arms(results: dict, arms, data_root, config: LevelStudyConfig, work: Path,
               estimator_path=None, log=print, tasks=None) -> dict:
    """`results` with `arms` (of RERUN_ARMS) trained, saved and scored again, the others kept
    (their evaluation images and degradations are the same by seed): for a run whose schedule
    or method changed for some arms. Rerunning `levels` scores levels-est again too, with
    `estimator_path` (default: the run's). The rerun's time is recorded beside the run's."""
    from trainer.adapters import LevelScale
    from trainer.estimator.files import load_estimator

    unknown = sorted(set(arms) - set(RERUN_ARMS))
    if unknown or not arms:
        raise RerunError(f"rerun: arms must be some of {', '.join(RERUN_ARMS)}, got "
                         f"{', '.join(arms) or 'none'}")
    began, cpu = time.perf_counter(), cpu_time()
    data = check_study_data(data_root)
    base = pretrained_base(data, config, Path(work), log).to(config.device)
    crops = clean_crops(data.clean_sources, config.train_crops, config.train_crop, config.seed)
    images = evaluation_images(data.evaluation, config.eval_count, config.eval_crop)
    if [name for name, _ in images] != results["images"]:
        raise RerunError("rerun: the evaluation images differ from the results'")
    estimator_path = estimator_path or results["estimator"]
    estimator = load_estimator(estimator_path, config.device)[0] if "levels" in arms else None
    gts = [gt for _, gt in images]
    adapters = Path(work) / "adapters"
    for task in tasks or results_tasks(results):
        entry = results["tasks"][task.name]
        scale = LevelScale.for_op(task.op, task.trained)
        scores = faig_scores(base, task, crops, config)
        sets = degraded_sets(task, images, config.seed + 1)
        models, dedicated = {}, {}
        if "dedicated" in arms:
            dedicated, plan, seconds = train_dedicated(base, task, crops, scores, config, log)
            entry["psnr"]["dedicated"] = {f"{v:g}": restore_psnrs(dedicated[v], sets[v], gts,
                                                                  config.device)
                                          for v in task.trained}
            entry["tuned"]["dedicated"] = plan.tuned_count
            entry["train_cpu_seconds"].update(seconds)
        for arm in [a for a in RERUN_ARMS[1:] if a in arms]:
            log(f"{task.name}: {arm}")
            method = "colora" if arm == "blind" else arm
            models[arm], plan, entry["train_cpu_seconds"][arm] = train_arm(
                base, method, task, task.trained, crops, scores, config, config.level_steps,
                config.level_crops)
            entry["tuned"][arm] = plan.tuned_count
            entry["psnr"][arm] = {
                f"{v:g}": restore_psnrs(models[arm], lqs, gts, config.device,
                                        None if arm == "blind" else [scale.level(v)] * len(lqs))
                for v, lqs in sets.items()}
        if "levels" in arms:
            for value, lqs in sets.items():
                key = f"{value:g}"
                entry["estimated"][key], entry["psnr"]["levels-est"][key] = score_estimated(
                    models["levels"], scale, estimator, lqs, gts, config.device)
        save_arms(adapters, task, scale, models, dedicated)
    results["config"] = asdict(config)
    if "levels" in arms:
        results["estimator"] = str(estimator_path)
        results["estimator_span"] = estimator_span(estimator_path)
    results["rerun"] = {"arms": list(arms), "wall_seconds": time.perf_counter() - began,
                        "cpu_seconds": cpu_time() - cpu}
    return results


def estimator_span(path) -> float:
    """The highest level (degrade's linear scale, 1 = the op's sampled range) an estimator run
    was trained on: its run.json's `level_span`, 1 for runs without one (trained on the sampled
    ranges only) and for a bare estimator file."""
    import json

    run = Path(path) / "run.json"
    if not run.is_file():
        return 1.0
    try:
        return float(json.loads(run.read_text()).get("level_span", 1.0))
    except (ValueError, TypeError, AttributeError):
        return 1.0


def results_tasks(results: dict) -> tuple[LevelTask, ...]:
    return tuple(LevelTask(name, t["task"]["op"], tuple(t["task"]["trained"]),
                           tuple(t["task"]["sweep"])) for name, t in results["tasks"].items())


def rescore_estimated(results: dict, data_root, config: LevelStudyConfig, work: Path,
                      estimator_path, log=print) -> dict:
    """`results` with the estimated-c arm scored again with another estimator, from the levels
    adapters and base the run saved in `work` (nothing is trained). The previous estimator's
    figures are kept under each task's `previous_estimate`."""
    from trainer.adapters import LevelScale, load_adapter
    from trainer.estimator.files import load_estimator

    began, cpu = time.perf_counter(), cpu_time()
    work = Path(work)
    data = check_study_data(data_root)
    base = cached_base(config, work)
    if base is None:
        raise RerunError(f"rescore: no pre-trained base of this configuration in {work / 'base'}")
    estimator, _ = load_estimator(estimator_path, config.device)
    images = evaluation_images(data.evaluation, config.eval_count, config.eval_crop)
    if [name for name, _ in images] != results["images"]:
        raise RerunError("rescore: the evaluation images differ from the results'")
    gts = [gt for _, gt in images]
    for task in results_tasks(results):
        entry = results["tasks"][task.name]
        path = adapter_path(work / "adapters", task.name, "levels")
        if not path.is_file():
            raise RerunError(f"rescore: {path} is missing (a run saves its adapters in WORK)")
        log(f"{task.name}: levels-est with {estimator_path}")
        model = load_adapter(copy.deepcopy(base), path).to(config.device).eval()
        scale = LevelScale.from_dict(entry["scale"])
        previous = {"estimator": results.get("estimator"), "estimated": entry["estimated"],
                    "levels-est": entry["psnr"]["levels-est"]}
        estimated, psnrs = {}, {}
        for value, lqs in degraded_sets(task, images, config.seed + 1).items():
            key = f"{value:g}"
            estimated[key], psnrs[key] = score_estimated(model, scale, estimator, lqs, gts,
                                                         config.device)
        entry.setdefault("previous_estimate", previous)
        entry["estimated"], entry["psnr"]["levels-est"] = estimated, psnrs
    results["estimator"] = str(estimator_path)
    results["estimator_span"] = estimator_span(estimator_path)
    results["rescore"] = {"arms": ["levels-est"], "wall_seconds": time.perf_counter() - began,
                          "cpu_seconds": cpu_time() - cpu}
    return results


def run_study(data_root, config: LevelStudyConfig, work: Path, estimator_path,
              log=print, tasks=TASKS) -> dict:
    """The whole study; returns the results document (bench/levels.py writes it and the
    report)."""
    from studies.environment import hardware_info
    from trainer.estimator.files import load_estimator

    began, cpu = time.perf_counter(), cpu_time()
    data = check_study_data(data_root)
    estimator, _ = load_estimator(estimator_path, config.device)
    base = pretrained_base(data, config, Path(work), log).to(config.device)
    crops = clean_crops(data.clean_sources, config.train_crops, config.train_crop, config.seed)
    images = evaluation_images(data.evaluation, config.eval_count, config.eval_crop)
    results = {"config": asdict(config), "estimator": str(estimator_path),
               "estimator_span": estimator_span(estimator_path),
               "images": [name for name, _ in images], "tasks": {}}
    for task in tasks:
        results["tasks"][task.name] = run_task(task, base, crops, images, estimator, config,
                                               log, Path(work) / "adapters")
    results["hardware"] = hardware_info(config.device)
    results["wall_seconds"] = time.perf_counter() - began
    results["cpu_seconds"] = cpu_time() - cpu
    return results

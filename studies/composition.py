"""The composition study (issue 12): task adapters composed per image on mixed degradations.

One PROD-pretrained base; one CoLoRA adapter per task family (blur, noise, jpeg, rain) trained
on single-degradation pairs; mixed test sets (trainer.mixtures) from CBSD68 centre crops; arms:

    base                  the base model, no adapter
    single:<task>         one task adapter at weight 1
    best-single-oracle    per image, the best single adapter (chosen knowing the target)
    uniform               every adapter at 1/n
    cascade               the adapters the estimator finds (p >= 0.5), each alone, one after
                          another, most probable first
    oracle                the router on the true labels (the chosen router settings)
    auto-top1/2/all       the router on the estimator's output, top-1, top-2, all adapters
    colora-mix            upper bound: one CoLoRA adapter trained on that mixture
    full-mix              upper bound: full fine-tuning on that mixture

The router's similarity and normalisation (and the default top-K) are chosen on a validation
split (the first `val_images` CBSD68 images by name) and the arms are scored on the others.
Each task adapter is also scored alone on its own single degradation beside the base (how much
each expert adds before it is composed).
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

TASK_FAMILIES = ("blur", "noise", "jpeg", "rain")


@dataclass(frozen=True)
class ComposeConfig:
    """Every size and step count of one composition study."""

    name: str
    device: str
    model: str = "nafnet-tiny"
    pretrain_pairs: int = 2048
    pretrain_patch: int = 48
    pretrain_steps: int = 800
    pretrain_batch: int = 8
    pretrain_lr: float = 1e-3
    train_pairs: int = 64       # clean training crops per adapter
    train_crop: int = 96
    adapter_steps: int = 500    # every adapter and upper bound
    batch: int = 8
    patch: int = 48
    colora_lr: float = 2e-3     # LoRA factors start at B = 0: a higher rate (docs/results.md)
    full_lr: float = 5e-4
    colora_budget: float = 0.07
    faig_target_steps: int = 30
    faig_steps: int = 20
    faig_pairs: int = 8
    val_images: int = 16        # first CBSD68 images by name: router selection
    test_images: int = 48       # the next ones: the reported arms
    eval_crop: int = 128
    seed: int = 0


CONFIGS: dict[str, ComposeConfig] = {
    # The first run (800 pre-training steps, 64 crops, 500 adapter steps) left adapters that
    # barely beat the base; probes showed 2.5x the pre-training barely moves the base (+0.05 dB
    # on the mixtures) and 3x the adapter steps on twice the crops is affordable. 38 CPU
    # minutes of one core measured (per-part costs in docs/composition.md's notes).
    "cpu": ComposeConfig(name="cpu", device="cpu", pretrain_steps=2000, train_pairs=128,
                         adapter_steps=1500),
    # One H200 run of at most 9 minutes: a width-16 NAFNet, whole CBSD68 images, more steps.
    # Steps cost ~50 ms there (per-step overhead bound, docs/benchmarks.md): 1500 pre-training
    # steps (~1.3 min) + 9 FAIGs (~1 min) + 14 runs of 800 steps (~2.2 min at 25 ms/step of
    # batch 16) + evaluation of 480 images x 15 passes (~1.5 min) + start-up: about 7 min.
    # Not yet run on a GPU.
    "gpu": ComposeConfig(name="gpu", device="cuda", model="nafnet-small", pretrain_pairs=4096,
                         pretrain_patch=64, pretrain_steps=1500, pretrain_batch=16,
                         train_pairs=128, train_crop=128, adapter_steps=800, batch=16, patch=64,
                         faig_target_steps=50, faig_steps=25, faig_pairs=16, eval_crop=0),
    # The plumbing only (tests): everything cut to a step or two.
    "test": ComposeConfig(name="test", device="cpu", pretrain_pairs=16, pretrain_patch=32,
                          pretrain_steps=2, pretrain_batch=2, train_pairs=4, train_crop=40,
                          adapter_steps=2, batch=2, patch=32, faig_target_steps=1, faig_steps=2,
                          faig_pairs=2, val_images=2, test_images=2, eval_crop=48),
}

# The router settings compared on the validation split (similarity, normalise, temperature).
# "max" and "none" give the adapters of the degradations found (near) full strength instead of
# a share of one: the convex weights of sum and softmax scored below the best single adapter.
ROUTER_GRID = (("probability", "sum", 0.1), ("strength", "sum", 0.1),
               ("probability", "softmax", 0.1), ("probability", "softmax", 0.3),
               ("strength", "softmax", 0.03), ("strength", "softmax", 0.1),
               ("strength", "softmax", 0.3), ("probability", "max", 0.1),
               ("strength", "max", 0.1), ("probability", "none", 0.1),
               ("strength", "none", 0.1))
TOP_KS = (1, 2, 0)  # 0: all adapters


def log_line(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------- data

def training_crops(sources, config: ComposeConfig) -> list[tuple[str, np.ndarray]]:
    """`train_pairs` random crops of the clean training sources (never CBSD68)."""
    from degrade.seeding import STUDY_CLEAN_CROP, sample_seed
    from pipelines.sources import load_image
    from trainer.tasks import random_crop

    crops = []
    for index in range(config.train_pairs):
        path = sources[index % len(sources)]
        rng = np.random.default_rng(sample_seed(config.seed, index, STUDY_CLEAN_CROP))
        crops.append((f"crop-{index:04d}", random_crop(load_image(path), config.train_crop, rng)))
    return crops


def task_training_pairs(family: str, crops, seed: int) -> list:
    """Each crop degraded by one op of the family, its params over the sampler's whole range."""
    from degrade.seeding import STUDY_TASK_TRAIN, sample_seed
    from trainer.tasks import TASKS, degrade_once

    member = 10 + TASK_FAMILIES.index(family)
    pairs = []
    for index, (stem, clean) in enumerate(crops):
        lq, _ = degrade_once(clean, TASKS[family], sample_seed(seed, index, STUDY_TASK_TRAIN,
                                                               member))
        pairs.append((f"{family}-{stem}", lq, clean))
    return pairs


def mixture_training_pairs(mixture: str, crops, seed: int) -> list:
    """Half the crops at the light strength, half at the heavy one."""
    from trainer.mixtures import mixed_set

    light = mixed_set(mixture, "light", crops[0::2], seed + 1).pairs
    heavy = mixed_set(mixture, "heavy", crops[1::2], seed + 1).pairs
    return [(f"{mixture}-{name}", lq, gt) for name, lq, gt in (*light, *heavy)]


def single_task_pairs(family: str, images, seed: int) -> list:
    """The test crops each degraded once by one op of the family over the sampler's whole range
    (the adapters' training distribution, on unseen images)."""
    from degrade.seeding import STUDY_TASK_TEST, sample_seed
    from trainer.tasks import TASKS, degrade_once

    member = 5 + TASK_FAMILIES.index(family)
    return [(f"{family}-{stem}", degrade_once(clean, TASKS[family],
                                              sample_seed(seed, index, STUDY_TASK_TEST,
                                                          member))[0], clean)
            for index, (stem, clean) in enumerate(images)]


def test_images(cbsd68, config: ComposeConfig) -> dict:
    """{split: clean CBSD68 centre crops}: the first `val_images` by name, then `test_images`."""
    from trainer.mixtures import clean_crops

    clean = clean_crops(cbsd68, config.eval_crop)
    return {"val": clean[:config.val_images],
            "test": clean[config.val_images:config.val_images + config.test_images]}


def test_sets(cbsd68, config: ComposeConfig):
    """{split: [MixedSet]}: val and test splits of CBSD68 centre crops, every mixture x strength."""
    from trainer.mixtures import MIXTURES, STRENGTHS, mixed_set

    return {split: [mixed_set(m, s, images, config.seed) for m in MIXTURES for s in STRENGTHS]
            for split, images in test_images(cbsd68, config).items()}


# ---------------------------------------------------------------- training

def pretrain_scale(config: ComposeConfig, device: str):
    """The reproduction's ScaleConfig that pre-trains this study's base (its pre-training
    fields; the fine-tuning ones only have to be valid)."""
    from studies.scales import ScaleConfig

    return ScaleConfig(name=config.name, device=device, model=config.model,
                       pretrain_pairs=config.pretrain_pairs, pretrain_patch=config.pretrain_patch,
                       pretrain_steps=config.pretrain_steps, pretrain_batch=config.pretrain_batch,
                       pretrain_lr=config.pretrain_lr, faig_pairs=1, train_counts=(1,),
                       train_crop=config.train_crop, finetune_patch=config.patch,
                       seed=config.seed)


def pretrain_base(sources, config: ComposeConfig, work: Path, device: str) -> Path:
    """PROD shards from the clean sources, then pre-training; the model file's path."""
    from studies.pretraining import build_mode_shards, pretrain_mode
    from pipelines.files import write_text_atomically

    scale = pretrain_scale(config, device)
    source_list = write_text_atomically(work / "pretrain-sources.txt",
                                        "".join(f"{Path(p).resolve()}\n" for p in sources))
    build_mode_shards("prod", source_list, work / "shards-prod", scale)
    return pretrain_mode(work / "shards-prod", work / "pretrain-prod", scale, device).model_path


def train_config(config: ComposeConfig, device: str, lr: float, steps: int | None = None):
    from trainer.finetune import TrainConfig

    return TrainConfig(steps=steps or config.adapter_steps, batch=config.batch, patch=config.patch,
                       lr=lr, device=device, seed=config.seed, progress=False)


def faig_scores(base: nn.Module, name: str, pairs, config: ComposeConfig, device: str) -> dict:
    from trainer.finetune import task_faig

    tune = train_config(config, device, config.full_lr, config.faig_target_steps)
    torch.manual_seed(config.seed)
    return task_faig(base, {name: pairs[:config.faig_pairs]}, None, tune, config.faig_steps,
                     config.faig_pairs)[name]


def train_adapter(base: nn.Module, name: str, ops, pairs, config: ComposeConfig, device: str,
                  out: Path) -> Path:
    """A CoLoRA adapter on `pairs` (FAIG first), saved with its task ops (full level range)."""
    from trainer.adapters import method_config, save_adapter, task_description
    from trainer.finetune import finetune

    scores = faig_scores(base, name, pairs, config, device)
    torch.manual_seed(config.seed)
    adapter = method_config("colora", {"budget": config.colora_budget, "seed": config.seed},
                            strict=False)
    result = finetune(copy.deepcopy(base), pairs, "colora",
                      train_config(config, device, config.colora_lr), adapter, scores)
    return save_adapter(out, result.model, task=task_description(name, ops, (0.0, 1.0)),
                        info={"steps": config.adapter_steps, "train_count": len(pairs)})


def train_full(base: nn.Module, pairs, config: ComposeConfig, device: str) -> nn.Module:
    from trainer.adapters import merge_and_unload
    from trainer.finetune import finetune

    torch.manual_seed(config.seed)
    result = finetune(copy.deepcopy(base), pairs, "full", train_config(config, device,
                                                                       config.full_lr))
    return merge_and_unload(result.model).eval()


# ---------------------------------------------------------------- scoring

def psnrs_with_weights(model: nn.Module, names, pairs, weights: np.ndarray, device: str) -> list:
    """PSNR per pair with one weight row per image (the model carries adapters `names`);
    images of one shape run in batches."""
    from pipelines.batching import image_to_tensor, tensor_to_image
    from studies.finetuning import batches_by_shape
    from trainer.adapters import set_adapters
    from trainer.metrics import psnr

    scores = [0.0] * len(pairs)
    with torch.no_grad():
        for group in batches_by_shape([lq for _, lq, _ in pairs]):
            set_adapters(model, names, weights[group])
            batch = torch.stack([image_to_tensor(pairs[i][1]) for i in group]).to(device)
            for i, out in zip(group, model(batch)):
                scores[i] = psnr(tensor_to_image(out), pairs[i][2])
    return scores


def plain_psnrs(model: nn.Module, pairs, device: str) -> list:
    from studies.finetuning import restore_all
    from trainer.metrics import psnr

    restored = restore_all(model, [lq for _, lq, _ in pairs], device)
    return [psnr(out, gt) for out, (_, _, gt) in zip(restored, pairs)]


def single_task_scores(model, adapters, images, seed: int, device: str) -> dict:
    """{family: {"input", "base", "adapter": per-image PSNRs}}: each task adapter alone on its
    own single degradation, beside the base model (how much each expert adds)."""
    from trainer.metrics import psnr

    n = len(adapters.names)
    scores = {}
    for index, name in enumerate(adapters.names):
        if name not in TASK_FAMILIES:
            continue
        pairs = single_task_pairs(name, images, seed)
        alone = np.zeros((len(pairs), n))
        alone[:, index] = 1.0
        scores[name] = {"input": [psnr(lq, gt) for _, lq, gt in pairs],
                        "base": psnrs_with_weights(model, adapters.names, pairs,
                                                   np.zeros((len(pairs), n)), device),
                        "adapter": psnrs_with_weights(model, adapters.names, pairs, alone,
                                                      device)}
    return scores


def cascade_psnrs(model, adapters, pairs, estimates, device: str) -> tuple[list, list]:
    from trainer.routing import cascade_order
    from trainer.composition import restore_cascade
    from trainer.metrics import psnr

    scores, orders = [], []
    for (_, lq, gt), estimate in zip(pairs, estimates):
        order = cascade_order(adapters.tasks, estimate)
        scores.append(psnr(restore_cascade(model, adapters, order, lq, device), gt))
        orders.append([adapters.names[i] for i in order])
    return scores, orders


def router_weights(adapters, estimates, config) -> np.ndarray:
    from trainer.routing import route

    return np.stack([route(adapters.tasks, estimate, config) for estimate in estimates])


def router_config(similarity: str, normalise: str, temperature: float, top_k: int):
    from trainer.routing import RouterConfig

    return RouterConfig(similarity, top_k or None, normalise, temperature)


def set_estimates(estimator, tile: int, mixed, device: str):
    from trainer.routing import Estimate
    from trainer.estimator.inference import estimate_image

    return [Estimate.from_op_estimates(estimate_image(estimator, lq, tile, device))
            for _, lq, _ in mixed.pairs]


def oracle_estimates(mixed):
    from degrade.registry import KNOWN_OPS
    from trainer.routing import label_estimate

    return [label_estimate(mixed.records[name], list(KNOWN_OPS)) for name, _, _ in mixed.pairs]


def select_router(model, adapters, val_sets, val_estimates, device: str) -> dict:
    """Mean validation PSNR of every router setting; the best similarity/normalisation and
    top-K."""
    table, scored = [], {}  # settings that give the same weights (top-1) are scored once
    for similarity, normalise, temperature in ROUTER_GRID:
        for top_k in TOP_KS:
            config = router_config(similarity, normalise, temperature, top_k)
            scores = []
            for index, (mixed, estimates) in enumerate(zip(val_sets, val_estimates)):
                weights = router_weights(adapters, estimates, config)
                key = (index, weights.tobytes())
                if key not in scored:
                    scored[key] = psnrs_with_weights(model, adapters.names, list(mixed.pairs),
                                                     weights, device)
                scores += scored[key]
            table.append({"similarity": similarity, "normalise": normalise,
                          "temperature": temperature, "top_k": top_k,
                          "psnr": float(np.mean(scores)), "per_image": scores})
    best = max(table, key=lambda row: row["psnr"])
    return {"grid": table, "best": {k: best[k] for k in ("similarity", "normalise",
                                                          "temperature", "top_k")}}


def score_set(mixed, models: dict, adapters, estimator, tile: int, chosen: dict,
              device: str) -> dict:
    """Every arm's per-image PSNRs on one mixed set, with the weights the routers gave."""
    from trainer.metrics import psnr

    composed = models["composed"]
    pairs = list(mixed.pairs)
    n = len(adapters.names)
    estimates = set_estimates(estimator, tile, mixed, device)
    arms = {"input": [psnr(lq, gt) for _, lq, gt in pairs],
            "base": psnrs_with_weights(composed, adapters.names, pairs, np.zeros((len(pairs), n)),
                                       device)}
    for index, name in enumerate(adapters.names):
        weights = np.zeros((len(pairs), n))
        weights[:, index] = 1.0
        arms[f"single:{name}"] = psnrs_with_weights(composed, adapters.names, pairs, weights,
                                                    device)
    singles = np.array([arms[f"single:{name}"] for name in adapters.names])
    arms["best-single-oracle"] = singles.max(axis=0).tolist()
    arms["uniform"] = psnrs_with_weights(composed, adapters.names, pairs,
                                         np.full((len(pairs), n), 1.0 / n), device)
    arms["cascade"], orders = cascade_psnrs(composed, adapters, pairs, estimates, device)
    weights_used = {}
    oracle = router_config(chosen["similarity"], chosen["normalise"], chosen["temperature"],
                           chosen["top_k"])
    weights_used["oracle"] = router_weights(adapters, oracle_estimates(mixed), oracle)
    for label, top_k in (("auto-top1", 1), ("auto-top2", 2), ("auto-all", 0)):
        config = router_config(chosen["similarity"], chosen["normalise"],
                               chosen["temperature"], top_k)
        weights_used[label] = router_weights(adapters, estimates, config)
    for label, weights in weights_used.items():
        arms[label] = psnrs_with_weights(composed, adapters.names, pairs, weights, device)
    arms["colora-mix"] = plain_psnrs(models["colora-mix"][mixed.mixture], pairs, device)
    arms["full-mix"] = plain_psnrs(models["full-mix"][mixed.mixture], pairs, device)
    return {"mixture": mixed.mixture, "strength": mixed.strength, "images": len(pairs),
            "arms": arms, "cascade_orders": orders,
            "mean_weights": {label: w.mean(axis=0).tolist() for label, w in weights_used.items()},
            "estimated_presence": np.mean([[max(e.probability[op] for op in t.ops)
                                            for t in adapters.tasks] for e in estimates],
                                          axis=0).tolist()}


# ---------------------------------------------------------------- the whole study

def run_study(data_root: Path, config: ComposeConfig, work: Path, estimator_path: Path,
              device: str, base_path: Path | None = None, reuse: bool = False) -> dict:
    """Train, compose and score; the results dict bench/compose.py writes as results.json.
    reuse: take the base, adapters and fine-tuned models an earlier run of the same
    configuration left in `work` instead of training them again (listed in "reused")."""
    from studies.datafolder import check_data_folder
    from trainer.checkpoint import load_model
    from trainer.composition import load_adapter_set
    from trainer.estimator.files import load_estimator
    from trainer.mixtures import MIXTURES
    from trainer.tasks import TASKS

    began, cpu_began = time.perf_counter(), time.process_time()
    timings: dict[str, float] = {}

    def lap(name: str, start: float) -> float:
        timings[name] = timings.get(name, 0.0) + time.process_time() - start
        return time.process_time()

    folder = check_data_folder(data_root, config.val_images + config.test_images)
    work.mkdir(parents=True, exist_ok=True)
    reused: list[str] = []

    def kept(path: Path) -> bool:
        if reuse and path.is_file():
            reused.append(path.name if path.parent == work else f"{path.parent.name}/{path.name}")
            return True
        return False

    clock = time.process_time()
    if base_path is None and kept(work / "pretrain-prod" / "model.safetensors"):
        base_path = work / "pretrain-prod" / "model.safetensors"
    if base_path is None:
        log_line(f"pre-training {config.model}, {config.pretrain_steps} steps")
        base_path = pretrain_base(folder.clean_sources, config, work, device)
    clock = lap("pretrain", clock)
    base, _ = load_model(base_path, device)
    base.eval()
    crops = training_crops(folder.clean_sources, config)
    sets = test_sets(folder.cbsd68, config)
    clock = lap("data", clock)
    adapter_dir = work / "adapters"
    adapter_dir.mkdir(exist_ok=True)
    for family in TASK_FAMILIES:
        if kept(adapter_dir / f"{family}.safetensors"):
            continue
        log_line(f"task adapter {family}")
        pairs = task_training_pairs(family, crops, config.seed + 1)
        train_adapter(base, family, TASKS[family], pairs, config, device,
                      adapter_dir / f"{family}.safetensors")
    clock = lap("task adapters", clock)
    models = {"colora-mix": {}, "full-mix": {}}
    for mixture in MIXTURES:
        log_line(f"upper bounds on {mixture}")
        pairs = mixture_training_pairs(mixture, crops, config.seed)
        path = work / f"mix-{mixture}.safetensors"
        if not kept(path):
            train_adapter(base, mixture, (), pairs, config, device, path)
        models["colora-mix"][mixture] = _with_adapter(base, path)
        clock = lap("colora on mixtures", clock)
        models["full-mix"][mixture] = _full_model(base, pairs, config, device,
                                                  work / f"full-{mixture}.safetensors", kept)
        clock = lap("full fine-tuning on mixtures", clock)
    composed = copy.deepcopy(base)
    adapters = load_adapter_set(composed, [adapter_dir])
    models["composed"] = composed.eval()
    estimator, metadata = load_estimator(estimator_path, device)
    tile = metadata.get("training", {}).get("patch", 64)
    single_tasks = single_task_scores(composed, adapters, test_images(folder.cbsd68,
                                                                      config)["test"],
                                      config.seed, device)
    clock = lap("single degradations", clock)
    log_line("router selection on the validation split")
    val_estimates = [set_estimates(estimator, tile, mixed, device) for mixed in sets["val"]]
    selection = select_router(composed, adapters, sets["val"], val_estimates, device)
    clock = lap("router selection", clock)
    log_line(f"chosen router: {selection['best']}; scoring the test split")
    results_sets = []
    for mixed in sets["test"]:
        results_sets.append(score_set(mixed, models, adapters, estimator, tile,
                                      selection["best"], device))
        log_line(f"scored {mixed.name}")
    lap("test arms", clock)
    return {"config": asdict(config), "adapters": list(adapters.names),
            "adapter_tasks": [asdict(t) for t in adapters.tasks],
            "estimator": str(estimator_path), "base": str(base_path), "reused": reused,
            "router_selection": selection, "sets": results_sets,
            "single_tasks": single_tasks,
            "cpu_seconds": timings, "wall_seconds": time.perf_counter() - began,
            "process_cpu_seconds": time.process_time() - cpu_began}


def _full_model(base: nn.Module, pairs, config: ComposeConfig, device: str, path: Path,
                kept) -> nn.Module:
    """The fully fine-tuned model on a mixture: the one saved at `path` when reused, else
    trained and saved there."""
    from trainer.checkpoint import load_model, save_model

    if kept(path):
        return load_model(path, device)[0].eval()
    model = train_full(base, pairs, config, device)
    save_model(path, model, {"steps": config.adapter_steps})
    return model


def _with_adapter(base: nn.Module, path: Path) -> nn.Module:
    from trainer.adapters import load_adapter

    return load_adapter(copy.deepcopy(base), path).eval()


def dry_config(config: ComposeConfig) -> ComposeConfig:
    """The configuration with every step count cut to 1-2 (checks a configuration cheaply)."""
    return replace(config, pretrain_steps=2, pretrain_pairs=64, adapter_steps=2,
                   faig_target_steps=1, faig_steps=2, val_images=2, test_images=2)

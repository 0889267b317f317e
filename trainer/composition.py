"""Restoring with a set of task adapters composed per image (UIR-LoRA's idea with our estimator).

A task-adapter set is a list of adapter files, or folders holding them (`*.safetensors`, or
`*/adapter.safetensors` as `trainer colora` writes), all trained on the same base model. Each is
loaded under its task name; per image, a weight source gives one weight per adapter and the
model runs `W0 + sum_k w_k dW_k` (trainer.adapters.set_adapters):

    explicit   the same weights for every image
    auto       the router (trainer.routing) on the degradation estimator's output
    oracle     the router on the true labels (chain records from a labels file, e.g. make-mixed's)

A cascade applies chosen adapters one after another instead (each alone, weight 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from torch import nn

from degrade.errors import ConfigError
from trainer.routing import (AdapterTask, Estimate, RouterConfig, RoutingError,
                                      check_tasks, label_estimate, parse_weights, route)

ADAPTER_FILE = "adapter.safetensors"


@dataclass(frozen=True)
class AdapterSet:
    """Adapters loaded on a model: their names (loading order), tasks and files."""

    names: tuple[str, ...]
    tasks: tuple[AdapterTask, ...]
    paths: tuple[Path, ...]


# ---------------------------------------------------------------- finding and loading

def adapter_files(specs: Sequence[Path | str]) -> list[Path]:
    """Adapter files from files and folders (a folder: its *.safetensors, then its
    subfolders' adapter.safetensors, sorted). ConfigError("adapters") for a missing path or an
    empty folder."""
    paths: list[Path] = []
    for spec in specs:
        spec = Path(spec)
        if spec.is_dir():
            found = sorted(spec.glob("*.safetensors")) + sorted(spec.glob(f"*/{ADAPTER_FILE}"))
            if not found:
                raise ConfigError("adapters", f"{spec}: no adapter files (*.safetensors or "
                                              f"*/{ADAPTER_FILE}) in this folder")
            paths.extend(found)
        elif spec.is_file():
            paths.append(spec)
        else:
            raise ConfigError("adapters", f"{spec}: no such adapter file or folder")
    if len({p.resolve() for p in paths}) != len(paths):
        raise ConfigError("adapters", "the same adapter file is named twice")
    return paths


def adapter_names(files) -> list[str]:
    """Each adapter's task name (its file stem when the task is unnamed or shared)."""
    names = [f.record.task.get("name") or _stem(f.path) for f in files]
    if len(set(names)) != len(names):
        names = [_stem(f.path) for f in files]
    if len(set(names)) != len(names):
        names = [f"{name}-{i}" for i, name in enumerate(names)]
    return [name.replace(".", "_") for name in names]


def _stem(path: Path) -> str:
    return path.parent.name if path.name == ADAPTER_FILE else path.stem


def load_adapter_set(model: nn.Module, specs: Sequence[Path | str]) -> AdapterSet:
    """Load every adapter of `specs` onto `model` (each under its task name; the model must be
    their base, checked before it is touched) and activate them all at weight 1."""
    from trainer.adapters import load_adapter, set_adapters

    from trainer.adapters.merging import read_same_base

    paths = adapter_files(specs)
    files = read_same_base(paths)
    names = adapter_names(files)
    for name, adapter in zip(names, files):
        load_adapter(model, adapter, name)
    set_adapters(model, names)
    tasks = tuple(AdapterTask.from_task(name, f.record.task) for name, f in zip(names, files))
    return AdapterSet(tuple(names), tasks, tuple(paths))


def load_composed(model_path, specs: Sequence[Path | str], device="cpu"):
    """(model with the adapter set loaded, AdapterSet): loaded on the CPU, then moved."""
    from trainer.checkpoint import load_model

    model, _ = load_model(model_path, device="cpu")
    adapters = load_adapter_set(model, specs)
    return model.to(device).eval(), adapters


# ---------------------------------------------------------------- weights per image

class ExplicitWeights:
    """The same weights for every image."""

    mode = "explicit"

    def __init__(self, values: np.ndarray):
        self.values = np.asarray(values, dtype=np.float64)

    def weights(self, stem: str, image: np.ndarray) -> np.ndarray:
        return self.values.copy()


class EstimatedWeights:
    """The router on the degradation estimator's estimate of each image."""

    mode = "auto"

    def __init__(self, estimator, tile: int, tasks: Sequence[AdapterTask],
                 config: RouterConfig, device: str = "cpu"):
        check_tasks(tasks, estimator.ops, "the estimator")
        self.estimator, self.tile, self.tasks = estimator, tile, tuple(tasks)
        self.config, self.device = config, device

    def estimate(self, image: np.ndarray) -> Estimate:
        from trainer.estimator.inference import estimate_image

        return Estimate.from_op_estimates(
            estimate_image(self.estimator, image, self.tile, self.device))

    def weights(self, stem: str, image: np.ndarray) -> np.ndarray:
        return route(self.tasks, self.estimate(image), self.config)


class OracleWeights:
    """The router on each image's true labels (its chain record)."""

    mode = "oracle"

    def __init__(self, labels: dict[str, dict], source, tasks: Sequence[AdapterTask],
                 config: RouterConfig):
        from degrade.registry import KNOWN_OPS

        self.ops = list(KNOWN_OPS)
        check_tasks(tasks, self.ops, "the engine")
        self.labels, self.source, self.tasks, self.config = labels, source, tuple(tasks), config

    def estimate(self, stem: str) -> Estimate:
        from trainer.mixtures import record_for

        return label_estimate(record_for(self.labels, stem, self.source), self.ops)

    def weights(self, stem: str, image: np.ndarray) -> np.ndarray:
        return route(self.tasks, self.estimate(stem), self.config)


def check_weight_spec(spec: str, estimator_path=None, labels_path=None) -> None:
    """ConfigError for auto without an estimator and oracle without labels (before any
    loading); numbers are checked against the adapter count by weight_source."""
    spec = spec.strip()
    if spec == "auto" and estimator_path is None:
        raise ConfigError("estimator", "automatic weights need a degradation estimator: give "
                                       "a run folder of `trainer estimator train` (train one "
                                       "with: trainer estimator train SHARDS --out "
                                       "runs/estimator)")
    if spec == "oracle" and labels_path is None:
        raise ConfigError("labels", "oracle weights need the images' true degradations: give "
                                    "a labels file (make-mixed writes labels.json)")


def weight_source(spec: str, adapters: AdapterSet, estimator_path=None, labels_path=None,
                  config: RouterConfig = RouterConfig(), device: str = "cpu"):
    """The weight source that `spec` (auto, oracle or numbers) names; one-line errors for
    auto without an estimator, oracle without labels and a wrong number of weights."""
    spec = spec.strip()
    check_weight_spec(spec, estimator_path, labels_path)
    if spec == "auto":
        return estimated_weights(estimator_path, adapters, config, device)
    if spec == "oracle":
        from trainer.mixtures import read_labels

        return OracleWeights(read_labels(labels_path), labels_path, adapters.tasks, config)
    return ExplicitWeights(parse_weights(spec, len(adapters.names), adapters.names))


def estimated_weights(estimator_path, adapters: AdapterSet, config: RouterConfig,
                      device: str = "cpu") -> EstimatedWeights:
    from trainer.estimator.files import load_estimator

    check_weight_spec("auto", estimator_path)
    estimator, metadata = load_estimator(estimator_path, device)
    tile = metadata.get("training", {}).get("patch", 64)
    return EstimatedWeights(estimator, tile, adapters.tasks, config, device)


# ---------------------------------------------------------------- running

def restore_weighted(model: nn.Module, adapters: AdapterSet, weights: np.ndarray,
                     image: np.ndarray, device, tile=None, overlap: int = 32,
                     amp: str = "none") -> np.ndarray:
    """`image` restored by the model with the adapters at `weights` (one per adapter)."""
    from trainer.adapters import set_adapters
    from trainer.restore import restore_image

    set_adapters(model, adapters.names, weights)
    return restore_image(model, image, device, tile=tile, overlap=overlap, amp=amp)


def restore_cascade(model: nn.Module, adapters: AdapterSet, order: Sequence[int],
                    image: np.ndarray, device, tile=None, overlap: int = 32,
                    amp: str = "none") -> np.ndarray:
    """`image` restored by each adapter of `order` alone (weight 1), one after another."""
    from trainer.adapters import set_adapters
    from trainer.restore import restore_image

    for index in order:
        set_adapters(model, [adapters.names[index]])
        image = restore_image(model, image, device, tile=tile, overlap=overlap, amp=amp)
    return image


def evaluate_weighted(model: nn.Module, adapters: AdapterSet, source, pairs: Iterable,
                      device, amp: str = "none", tile=None, overlap: int = 32,
                      progress: bool = False, total: int | None = None):
    """(EvalReport, per-image weights): each pair scored with its own weights."""
    from tqdm import tqdm

    from trainer.adapters import set_adapters
    from trainer.evaluate import EvalReport, score_pair

    model.eval()
    scores, used = [], []
    for name, lq, gt in tqdm(pairs, total=total, disable=not progress, unit="img", desc="eval"):
        weights = source.weights(name, lq)
        set_adapters(model, adapters.names, weights)
        scores.append(score_pair(model, name, lq, gt, device, amp, tile, overlap))
        used.append(tuple(float(w) for w in weights))
    return EvalReport(tuple(scores)), used


def describe_weights(names: Sequence[str], weights: Sequence[float]) -> str:
    """'noise 0.62, jpeg 0.38, blur 0.00'."""
    return ", ".join(f"{name} {float(w):.2f}" for name, w in zip(names, weights))


__all__ = ["AdapterSet", "EstimatedWeights", "ExplicitWeights", "OracleWeights", "RoutingError",
           "adapter_files", "adapter_names", "check_weight_spec", "describe_weights",
           "evaluate_weighted", "load_adapter_set", "load_composed", "restore_cascade",
           "restore_weighted", "weight_source"]

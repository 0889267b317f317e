"""The router of composed task adapters: an image's degradation estimate -> one weight per adapter.

Each loaded adapter restores some engine ops (its stored task: ops and level range). Per image
the estimator gives every op a probability of presence p and a level in [0, 1]. The router
scores each adapter by its similarity to the image, keeps the top K and normalises:

    similarity "probability":  s_k = max over the adapter's ops of p(op)
    similarity "strength":     s_k = max over its ops of p(op) * level(op) * fit(level, range_k)
        fit is 1 inside the adapter's level range and falls linearly to 0 at a distance of
        RANGE_FALLOFF levels outside it (1 for an unknown range)
    top_k K:                   the K largest similarities are kept (earlier adapters win ties),
                               the others get weight 0
    normalise "sum":           w = s / sum(kept s); all zero -> all zero (the base model runs)
    normalise "softmax":       w = exp(s / T) / sum over kept (temperature T)
    normalise "max":           w = s / max(kept s): the most similar adapter at full strength,
                               the others in proportion; all zero -> all zero
    normalise "none":          w = s (the similarity itself)

Oracle weights are the same function of the true labels (presence 1/0 and the true level, from a
chain record): `label_estimate`. Explicit weights bypass the router (`parse_weights`).
The defaults (probability, all adapters, softmax at T = 0.1) scored best of the settings
docs/composition.md compared on its validation images with the estimator it reports (strength
lost 0.23 dB there; with the older estimator the two were within 0.01 dB); "max" and "none",
which give the adapters found full strength, lost 0.3-0.8 dB: adding the deltas interferes.
With softmax an image where nothing is found gets every adapter at 1/n, with sum the base model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from degrade.errors import ConfigError, KitError

SIMILARITIES = ("probability", "strength")
NORMALISATIONS = ("sum", "softmax", "max", "none")
RANGE_FALLOFF = 0.25


class RoutingError(KitError):
    """Adapters the router cannot weigh (no task ops, ops the estimator does not cover), or
    estimates/labels that do not fit them."""


@dataclass(frozen=True)
class RouterConfig:
    """How similarities become weights. top_k None or 0: every adapter."""

    similarity: str = "probability"
    top_k: int | None = None
    normalise: str = "softmax"
    temperature: float = 0.1

    def __post_init__(self):
        if self.similarity not in SIMILARITIES:
            raise ConfigError("similarity", f"{self.similarity!r} is not one of "
                                            f"{', '.join(SIMILARITIES)}")
        if self.normalise not in NORMALISATIONS:
            raise ConfigError("normalise", f"{self.normalise!r} is not one of "
                                           f"{', '.join(NORMALISATIONS)}")
        if self.top_k is not None and self.top_k < 0:
            raise ConfigError("top_k", f"must be 1 or more (0: all adapters), got {self.top_k}")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError("temperature", f"must be a positive number, got {self.temperature}")

    def describe(self) -> str:
        top = f"top-{self.top_k}" if self.top_k else "all"
        norm = (f"softmax T={self.temperature:g}" if self.normalise == "softmax"
                else self.normalise)
        return f"{self.similarity}, {top}, {norm}"


@dataclass(frozen=True)
class AdapterTask:
    """What the router knows of one adapter: its name, ops and level range (None: unknown)."""

    name: str
    ops: tuple[str, ...]
    level_range: tuple[float, float] | None = None

    @classmethod
    def from_task(cls, name: str, task: Mapping) -> "AdapterTask":
        """From an adapter record's task entry ({"name", "ops", "level_range"})."""
        level_range = task.get("level_range") if task else None
        return cls(name, tuple(task.get("ops", ()) if task else ()),
                   tuple(float(v) for v in level_range) if level_range else None)


@dataclass(frozen=True)
class Estimate:
    """One image's degradation, per op: probability of presence and level, both in [0, 1]."""

    probability: Mapping[str, float]
    level: Mapping[str, float]

    @classmethod
    def from_op_estimates(cls, estimates) -> "Estimate":
        """From trainer.estimator.inference.OpEstimate values."""
        return cls({e.op: float(e.probability) for e in estimates},
                   {e.op: float(e.level) for e in estimates})


def label_estimate(record: Mapping, ops: Sequence[str]) -> Estimate:
    """The oracle's estimate from a chain record: probability 1 for the ops the chain holds
    (0 otherwise) and the true level of each one's strongest occurrence."""
    from trainer.estimator.labels import labels_from_record

    presence, level = labels_from_record(record, ops)
    return Estimate(dict(zip(ops, presence.tolist())), dict(zip(ops, level.tolist())))


def check_tasks(tasks: Sequence[AdapterTask], known_ops: Sequence[str], source: str) -> None:
    """RoutingError naming the first adapter with no task ops or with ops `source` (the
    estimator, the labels) does not cover."""
    known = set(known_ops)
    for task in tasks:
        if not task.ops:
            raise RoutingError(f"adapter {task.name!r} stores no task ops, so it cannot be "
                               f"weighed automatically; give `weights` explicitly")
        missing = [op for op in task.ops if op not in known]
        if missing:
            raise RoutingError(f"adapter {task.name!r} restores {', '.join(missing)}, which "
                               f"{source} does not know (it knows {', '.join(known_ops)})")


def range_fit(level: float, level_range: tuple[float, float] | None) -> float:
    """1 inside the range (or for an unknown range), falling linearly to 0 at RANGE_FALLOFF."""
    if level_range is None:
        return 1.0
    low, high = level_range
    distance = max(low - level, level - high, 0.0)
    return max(0.0, 1.0 - distance / RANGE_FALLOFF)


def similarities(tasks: Sequence[AdapterTask], estimate: Estimate,
                 similarity: str = "probability") -> np.ndarray:
    """One similarity in [0, 1] per adapter (see the module docstring)."""
    values = []
    for task in tasks:
        if similarity == "probability":
            scores = [estimate.probability[op] for op in task.ops]
        else:
            scores = [estimate.probability[op] * estimate.level[op]
                      * range_fit(estimate.level[op], task.level_range) for op in task.ops]
        values.append(max(scores))
    return np.asarray(values, dtype=np.float64)


def top_k_mask(values: np.ndarray, k: int | None) -> np.ndarray:
    """True for the k largest values (stable: earlier entries win ties); all for k None/0."""
    mask = np.zeros(len(values), dtype=bool)
    if not k or k >= len(values):
        mask[:] = True
        return mask
    mask[np.argsort(-values, kind="stable")[:k]] = True
    return mask


def normalise(values: np.ndarray, mask: np.ndarray, how: str, temperature: float) -> np.ndarray:
    """Weights from similarities: zero outside `mask`, normalised inside it."""
    weights = np.zeros(len(values), dtype=np.float64)
    kept = values[mask]
    if how == "none":
        weights[mask] = kept
    elif how in ("sum", "max"):
        scale = kept.sum() if how == "sum" else kept.max(initial=0.0)
        weights[mask] = kept / scale if scale > 0 else 0.0
    else:
        scaled = (kept - kept.max()) / temperature  # shifted: no overflow at small T
        exp = np.exp(scaled)
        weights[mask] = exp / exp.sum()
    return weights


def route(tasks: Sequence[AdapterTask], estimate: Estimate,
          config: RouterConfig = RouterConfig()) -> np.ndarray:
    """One weight per adapter, in the order of `tasks`."""
    values = similarities(tasks, estimate, config.similarity)
    return normalise(values, top_k_mask(values, config.top_k), config.normalise,
                     config.temperature)


def parse_weights(text: str, count: int, names: Sequence[str] = ()) -> np.ndarray:
    """'0.5,0.3,0.2' -> array; ConfigError("weights") unless there is one finite number per
    adapter."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = np.asarray([float(part) for part in parts], dtype=np.float64)
    except ValueError:
        raise ConfigError("weights", f"{text!r} is not auto, oracle or a comma-separated list "
                                     f"of numbers") from None
    if len(values) != count:
        listed = f" ({', '.join(names)})" if names else ""
        raise ConfigError("weights", f"{len(values)} weight(s) given for {count} "
                                     f"adapter(s){listed}; give one per adapter")
    if not np.all(np.isfinite(values)):
        raise ConfigError("weights", f"{text!r} holds a value that is not a finite number")
    return values


def cascade_order(tasks: Sequence[AdapterTask], estimate: Estimate,
                  threshold: float = 0.5) -> list[int]:
    """Indices of the adapters a cascade applies, one after another: those whose similarity
    ("probability") reaches `threshold`, most probable first; the single most probable one
    when none does."""
    values = similarities(tasks, estimate, "probability")
    order = [int(i) for i in np.argsort(-values, kind="stable")]
    chosen = [i for i in order if values[i] >= threshold]
    return chosen or order[:1]

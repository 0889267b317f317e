"""Method configurations: one frozen dataclass per kind of method, built from options by name.

Every config has `seed` (the initialisation of new factors); low-rank methods add `budget` and
`alpha`; methods with one rank everywhere add `rank`. A method's registry entry names its class.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class MethodConfig:
    """Tunes tensors in full (full, decoder): nothing to choose but the seed."""

    seed: int = 0

    def __post_init__(self):
        if self.seed < 0:
            raise ValueError(f"seed: {self.seed} must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BudgetConfig(MethodConfig):
    """Low-rank factors sized by a budget.

    budget: share of the model's parameters to tune.
    alpha: scale numerator (delta = alpha / r * B A); None means alpha = r, a scale of 1, so
        layers of different ranks start from the same effective learning rate.
    """

    budget: float = 0.07
    alpha: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.budget <= 1.0:
            raise ValueError(f"budget: {self.budget} must be in (0, 1]")
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"alpha: {self.alpha} must be > 0")


@dataclass(frozen=True)
class RankConfig(BudgetConfig):
    """One rank everywhere (capped per layer): `rank`, or without it the rank whose total is
    closest to the budget."""

    rank: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.rank is not None and self.rank < 1:
            raise ValueError(f"rank: {self.rank} must be >= 1")


@dataclass(frozen=True)
class ComposedConfig(MethodConfig):
    """How `trainer merge --as-adapter` made an adapter: the source files and their weights;
    rank None when exact (ranks concatenated), else the SVD rank of the approximation."""

    sources: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    rank: int | None = None


def method_config(method: str, options: Mapping[str, Any] | None = None, strict: bool = True):
    """The config of registered `method` from `options` (None values mean "default").

    strict: an option the method does not have is a ValueError naming it; otherwise it is
    ignored (for counting every method with one set of options).
    """
    from trainer.adapters.registry import get_method

    config_class = get_method(method).config
    fields = {f.name for f in dataclasses.fields(config_class)}
    given = {k: v for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(given) - fields)
    if unknown and strict:
        raise ValueError(f"{unknown[0]}: method {method} has no such option "
                         f"(it takes {', '.join(sorted(fields))})")
    values = {k: _as_field(v) for k, v in given.items() if k in fields}
    return config_class(**values)


def _as_field(value):
    return tuple(value) if isinstance(value, list) else value

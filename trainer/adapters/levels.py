"""Level-conditioned adapters: one adapter for every strength c of a degradation.

A level adapter holds two terms per tensor it changes, and the layers run it as two slots:

    p(c) = p0 + w * (delta_0 + (c - centre) * delta_1)
           slot `name` at weight w, slot `name@level` at w * (c - centre)

(`levels`: delta = B A for weights, v - p0 for bias/norm vectors; `levels-full`: whole tensors.)
Both slots go through the layers' composition unchanged, so per-image c in a batch is exact in
the same way per-image weights are: each image gets the parameters it would get alone.

c is the adapter's op's level (degrade's Severity, extended linearly beyond the op's sampled
range, so sigma 75 is c = 2.5 for an op sampled up to sigma 30); users give natural units and
`LevelScale` (stored in the adapter file's info) converts them and knows the trained range.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from degrade.errors import ConfigError, KitError
from trainer.adapters.registry import LEVEL_PREFIX  # noqa: F401  (re-exported)

LEVEL_SUFFIX = "@level"  # slot name of an adapter's level term
INFO_KEY = "levels"  # the adapter file's info entry holding the LevelScale


class LevelError(KitError):
    """A level that cannot be used as asked (one line naming the option or file)."""


def level_slot(name: str) -> str:
    return name + LEVEL_SUFFIX


def is_levelled(record) -> bool:
    """Whether an adapter record's method is level-conditioned."""
    from trainer.adapters.registry import get_method
    return get_method(record.method).levels


# ---------------------------------------------------------------- the scale

_VALUE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%]*)\s*$")


@dataclass(frozen=True)
class LevelScale:
    """How a level adapter's c relates to natural units: c = (v - zero) / (full - zero), the
    op's own level scale; `low`..`high` the trained range and `trained` the trained values
    (empty when sampled continuously), all in natural units."""

    op: str
    unit: str
    symbol: str
    zero: float
    full: float
    low: float
    high: float
    trained: tuple[float, ...] = field(default=())

    @classmethod
    def for_op(cls, op: str, values: Sequence[float], continuous: bool = False) -> "LevelScale":
        severity = level_severity(op)
        values = [float(v) for v in values]
        return cls(op, severity.unit, severity.symbol, float(severity.zero),
                   float(severity.full), min(values), max(values),
                   () if continuous else tuple(sorted(set(values))))

    def level(self, natural: float) -> float:
        """c of a natural-unit value."""
        return (float(natural) - self.zero) / (self.full - self.zero)

    def natural(self, level: float) -> float:
        return self.zero + float(level) * (self.full - self.zero)

    @property
    def centre(self) -> float:
        """c of the middle of the trained range (where a level adapter's constant term stands)."""
        return (self.level(self.low) + self.level(self.high)) / 2

    def inside(self, natural: float) -> bool:
        return self.low - 1e-9 <= float(natural) <= self.high + 1e-9

    def describe_range(self) -> str:
        return f"{self.symbol} {self.low:g}..{self.high:g}"

    def to_dict(self) -> dict:
        return {"op": self.op, "unit": self.unit, "symbol": self.symbol, "zero": self.zero,
                "full": self.full, "low": self.low, "high": self.high,
                "trained": list(self.trained)}

    @classmethod
    def from_dict(cls, data) -> "LevelScale":
        return cls(str(data["op"]), str(data["unit"]), str(data["symbol"]), float(data["zero"]),
                   float(data["full"]), float(data["low"]), float(data["high"]),
                   tuple(float(v) for v in data.get("trained", ())))


def level_severity(op: str):
    """The Severity of an op whose strength can be set; ValueError naming the op otherwise."""
    from degrade.registry import OPS

    if op not in OPS:
        raise ValueError(f"op {op!r} is not a registered degradation")
    severity = OPS[op].severity
    if severity.params_at is None:
        settable = ", ".join(name for name, o in OPS.items() if o.severity.params_at is not None)
        raise ValueError(f"op {op}'s strength cannot be set to a value (level-conditioned "
                         f"adapters need one of: {settable})")
    return severity


def parse_value(text: str, op: str, option: str = "level") -> float:
    """A natural-unit value of `op` from `25`, `25sigma`, `30quality`; ConfigError (one line
    naming `option`) for anything else, unknown units included."""
    severity = level_severity(op)
    match = _VALUE.match(str(text))
    if not match:
        raise ConfigError(option, f"{text!r} is not a number (give {severity.unit}, e.g. 25)")
    number, unit = float(match.group(1)), match.group(2)
    if unit and unit.lower() != severity.symbol.lower():
        raise ConfigError(option, f"{text!r}: unknown unit {unit!r}; {op} levels are "
                                  f"{severity.symbol} ({severity.unit}), e.g. 25 or "
                                  f"25{severity.symbol}")
    if not math.isfinite(number):
        raise ConfigError(option, f"{text!r} is not a finite number")
    try:
        severity.params_at(number, np.random.default_rng(0))
    except ValueError as error:
        raise ConfigError(option, f"{text!r}: {error}") from None
    return number


def parse_values(text: str, op: str, option: str = "levels") -> list[float]:
    """`15,35,55,75`: at least two distinct values."""
    values = [parse_value(item, op, option) for item in str(text).split(",") if item.strip()]
    if len(set(values)) < 2:
        raise ConfigError(option, f"{text!r}: give at least two different levels (one level "
                         f"is a plain adapter: use --method colora)")
    return values


def parse_range(text: str, op: str, option: str = "level_range",
                with_step: bool = False) -> tuple[float, float, float | None]:
    """`5:75` (or `5:75:5` with a step): (low, high, step or None)."""
    parts = str(text).split(":")
    if len(parts) not in ((2, 3) if with_step else (2,)):
        form = "LOW:HIGH[:STEP]" if with_step else "LOW:HIGH"
        raise ConfigError(option, f"{text!r} must be {form}, e.g. 5:75")
    values = [parse_value(part, op, option) for part in parts]
    low, high = values[0], values[1]
    step = values[2] if len(values) == 3 else None
    if not low < high:
        raise ConfigError(option, f"{text!r}: LOW must be below HIGH")
    if step is not None and not step > 0:
        raise ConfigError(option, f"{text!r}: STEP must be > 0")
    return low, high, step


def range_values(low: float, high: float, step: float) -> list[float]:
    """low, low + step, ... up to high (inclusive, to rounding)."""
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    return [round(low + i * step, 9) for i in range(count)]


def check_in_range(scale: LevelScale, natural: float, extrapolate: bool, source: str,
                   warn=None, option: str = "level") -> None:
    """A level outside the trained range: ConfigError, or with `extrapolate` one warning."""
    if scale.inside(natural):
        return
    message = (f"{source}: level {natural:g} is outside the adapter's trained range "
               f"{scale.describe_range()}")
    if not extrapolate:
        raise ConfigError(option, message + " (pass --extrapolate to use it anyway)")
    if warn is not None:
        warn("warning: " + message + "; extrapolating")


def centred(config, scale: LevelScale):
    """A level method's config with its level term centred on the scale's trained range."""
    return dataclasses.replace(config, centre=scale.centre)


def level_centre(record) -> float:
    """The c a level adapter's constant term stands for (0 for files without one)."""
    return float(getattr(record.config, "centre", 0.0))


def refuse_levelled(record, source, what: str) -> None:
    """A level adapter's weights depend on c: operations on one fixed adapter (merging,
    exporting) refuse it in one line."""
    if is_levelled(record):
        from trainer.adapters.model import AdapterError
        raise AdapterError(f"{source}: a {record.method} adapter's weights depend on the level "
                           f"c; {what} does not take level adapters (restore with --level)")


def adapter_scale(record, source: str = "adapter") -> LevelScale:
    """The LevelScale of a level adapter's record; ConfigError for a plain adapter."""
    if not is_levelled(record):
        raise ConfigError("level", f"{source} is a {record.method} adapter, not a level adapter "
                                   f"(train one with --method levels or levels-full)")
    try:
        return LevelScale.from_dict(record.info[INFO_KEY])
    except (KeyError, TypeError, ValueError):
        raise LevelError(f"{source}: level adapter without its level scale "
                         f"(info.{INFO_KEY})") from None


# ---------------------------------------------------------------- slots

def expand(adapters, names: Sequence[str], weights: torch.Tensor):
    """(slot names, slot weights, level adapters without a level) for the user's names and
    weights: a level adapter's level slot runs at w * (c - centre) (c one number or one per
    image; centre from the adapter's config)."""
    slots, columns, missing = [], [], []
    for i, name in enumerate(names):
        column = weights[..., i]
        slots.append(name)
        columns.append(column)
        if is_levelled(adapters.records[name]):
            level = adapters.levels.get(name)
            if level is None:
                missing.append(name)
                level = torch.zeros(())
            slots.append(level_slot(name))
            columns.append(column * (level - level_centre(adapters.records[name])))
    if not columns:
        return tuple(slots), weights, tuple(missing)
    rows = {c.shape[0] for c in columns if c.dim() == 1}
    if len(rows) > 1:
        from trainer.adapters.model import AdapterError
        raise AdapterError(f"levels: per-image levels and per-image weights disagree on the "
                           f"batch size ({' vs '.join(map(str, sorted(rows)))})")
    if rows:
        batch = rows.pop()
        stacked = torch.stack([c.expand(batch) for c in columns], dim=1)
    else:
        stacked = torch.stack(columns)
    return tuple(slots), stacked.float(), tuple(missing)


def set_level(model: nn.Module, level, name: str | None = None) -> None:
    """c of level adapter `name` (default: the only level adapter loaded): a number for the
    batch, or a (B,) tensor/array with one c per image of the next batches."""
    from trainer.adapters.model import AdapterError, _adapter_set, reactivate

    adapters = _adapter_set(model)
    levelled = [n for n, r in adapters.records.items() if is_levelled(r)]
    if name is None:
        if len(levelled) != 1:
            raise AdapterError(f"levels: {len(levelled)} level adapters loaded; name one")
        name = levelled[0]
    if name not in levelled:
        raise AdapterError(f"levels: adapter {name!r} is not a loaded level adapter")
    values = torch.as_tensor(np.asarray(level, dtype=np.float64)).float()
    if values.dim() > 1 or values.numel() == 0 or not torch.isfinite(values).all():
        raise AdapterError(f"levels: {level!r} must be one finite number or one per image")
    adapters.levels[name] = values
    reactivate(model)


def require_levels(model: nn.Module, _inputs) -> None:
    """Forward pre-hook of models carrying a level adapter: running one without its c would
    silently use c = 0."""
    adapters = getattr(model, "_colora_adapters", None)
    if adapters is not None and adapters.missing_levels:
        from trainer.adapters.model import AdapterError
        raise AdapterError(f"adapter {adapters.missing_levels[0]!r} is level-conditioned: set "
                           f"its level first (set_level, or --level)")

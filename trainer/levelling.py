"""Choosing a level adapter's c at inference: a natural value the user gives (`--level 25`), or
the degradation estimator's level for the adapter's op, per image (`--level auto`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from torch import nn

from trainer.adapters.levels import (LevelError, LevelScale, adapter_scale, check_in_range,
                                     level_severity, parse_value, set_level)

from trainer.levelling_defaults import AUTO, DEFAULT_ESTIMATOR
LOG = logging.getLogger("trainer.levels")


@dataclass
class LevelChoice:
    """How c is chosen: `value` (natural units) for every image, or `estimator` per image."""

    scale: LevelScale
    value: float | None
    estimator: nn.Module | None = None
    extrapolate: bool = False
    device: str = "cpu"

    def natural_for(self, image: np.ndarray) -> tuple[float, bool]:
        """(natural level, estimated?) for one uint8 RGB image."""
        if self.value is not None:
            return self.value, False
        return estimate_natural(self.estimator, self.scale, image, self.extrapolate,
                                self.device), True


def level_choice(model: nn.Module, text: str, adapter_source, extrapolate: bool = False,
                 estimator_path=DEFAULT_ESTIMATOR, device: str = "cpu",
                 warn=LOG.warning) -> LevelChoice:
    """The choice for `--level TEXT` on the model's (only) level adapter; LevelError (one line
    naming the option or file) for a plain adapter, a bad value or a level outside the trained
    range without `extrapolate` (with it: one warning)."""
    from trainer.adapters import adapter_records

    records = list(adapter_records(model).values())
    if len(records) != 1:
        raise LevelError(f"`level` needs one adapter (`adapter`), {len(records)} loaded",
                         field="level")
    scale = adapter_scale(records[0], str(adapter_source))
    if str(text).strip().lower() == AUTO:
        return LevelChoice(scale, None, load_level_estimator(estimator_path, scale, device),
                           extrapolate, device)
    value = parse_value(text, scale.op, "level")
    check_in_range(scale, value, extrapolate, str(adapter_source), warn)
    return LevelChoice(scale, value, extrapolate=extrapolate)


def load_level_estimator(path, scale: LevelScale, device: str = "cpu") -> nn.Module:
    """The estimator at `path`, which must rate the adapter's op (LevelError otherwise)."""
    from trainer.checkpoint import CheckpointError
    from trainer.estimator.files import load_estimator

    try:
        estimator, _ = load_estimator(path, device)
    except CheckpointError as error:
        raise LevelError(f"`estimator` {error} (`level` auto needs a trained estimator: "
                         f"trainer estimator train)", field="estimator") from None
    if scale.op not in estimator.ops:
        raise LevelError(f"`estimator` {path}: rates {', '.join(estimator.ops)}, not the "
                         f"adapter's op {scale.op}", field="estimator")
    return estimator


def estimate_natural(estimator: nn.Module, scale: LevelScale, image: np.ndarray,
                     extrapolate: bool = False, device: str = "cpu") -> float:
    """The estimator's level of the adapter's op in natural units, kept inside the trained
    range unless `extrapolate` (then only inside what the op can be set to: an estimator whose
    levels go beyond the op's sampled range may report JPEG quality below 1).

    An estimate beyond the op's sampled range (degrade's linear level above 1, as sigma 60 is
    for an op sampled up to sigma 30) is used as it is: only the adapter's range clips it."""
    from trainer.estimator.inference import estimate_image

    estimates = {e.op: e for e in estimate_image(estimator, image, device=device)}
    severity = level_severity(scale.op)
    value = severity.snap(estimates[scale.op].value)
    inside = float(np.clip(value, scale.low, scale.high))
    return severity.snap(severity.nearest_settable(value, inside)) if extrapolate else inside


def condition_on(model: nn.Module, choice: LevelChoice, image: np.ndarray) -> float:
    """Set the model's c for `image`; returns the natural level used."""
    value, _ = choice.natural_for(image)
    set_level(model, choice.scale.level(value))
    return value


def conditioned(pairs, model: nn.Module, choice: LevelChoice, used: list | None = None):
    """The (name, lq, gt) pairs, the model's c set for each one as it is handed out (scoring
    runs each pair as it is drawn: trainer.evaluate.evaluate_pairs); `used` collects the
    natural levels."""
    for name, lq, gt in pairs:
        value = condition_on(model, choice, lq)
        if used is not None:
            used.append(value)
        yield name, lq, gt


def describe_levels(choice: LevelChoice, used: list[float]) -> str:
    """'sigma 25' or 'estimated sigma 12.1..28.3 (mean 19.0)' for a summary line."""
    symbol = choice.scale.symbol
    if choice.value is not None or not used:
        return f"{symbol} {choice.value:g}" if choice.value is not None else ""
    return (f"estimated {symbol} {min(used):.3g}..{max(used):.3g} "
            f"(mean {float(np.mean(used)):.3g})")

"""Estimator files: safetensors weights whose metadata says what they are and which ops, units
and training produced them, so a restoration model and an estimator are never confused."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.checkpoint import (MODEL_FORMAT, CheckpointError, decode_metadata, load_weights,
                                read_metadata, read_tensors, resolve_model_path, save_tensors)
from trainer.estimator.model import DegradationEstimator

ESTIMATOR_FORMAT = "colora-kit/estimator"


def units_of(ops) -> dict[str, str]:
    """Each op's natural unit (degrade's severities), stored beside the weights for readers."""
    from degrade.registry import OPS
    return {name: OPS[name].severity.unit for name in ops}


def estimator_metadata(model: DegradationEstimator, extra: dict[str, Any] | None = None) -> dict:
    return {"format": ESTIMATOR_FORMAT, "config": model.config, "units": units_of(model.ops),
            **(extra or {})}


def save_estimator(path: str | Path, model: DegradationEstimator,
                   extra: dict[str, Any] | None = None) -> Path:
    return save_tensors(path, model.state_dict(), estimator_metadata(model, extra))


def load_estimator(path: str | Path, device: str = "cpu") -> tuple[DegradationEstimator, dict]:
    """(estimator in eval mode, metadata) from a .safetensors file or a run folder.

    CheckpointError with one line for a missing file, a restoration model or an adapter."""
    path = resolve_model_path(path)
    metadata = decode_metadata(read_metadata(path))
    kind = metadata.get("format")
    if kind != ESTIMATOR_FORMAT:
        what = "a restoration model" if kind == MODEL_FORMAT else f"a {kind or 'non-colora-kit'} file"
        raise CheckpointError(f"{path}: {what}, not a degradation estimator (train one with "
                              f"`trainer estimator train`)")
    try:
        model = DegradationEstimator.from_config(metadata["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: broken estimator config ({error})") from None
    load_weights(model, read_tensors(path), path, strict=True)
    return model.to(device).eval(), metadata

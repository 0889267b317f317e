"""Exporting our files to the layouts other code loads: the official NAFNet/Restormer
checkpoints (`export_official`)."""
from __future__ import annotations

from pathlib import Path


class ExportError(Exception):
    """An export that cannot be made; str(error) is one line naming the file or option."""


def refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise ExportError(f"{out}: already exists; nothing was written (use --overwrite)")


def export_official(model_path: str | Path, out: str | Path, overwrite: bool = False) -> str:
    """Write MODEL (a model file or run folder) as an official-code checkpoint; a summary line."""
    from trainer.checkpoint import CheckpointError, load_model, resolve_model_path
    from trainer.models.official import OfficialWeightsError, save_official_checkpoint

    out = Path(out)
    refuse_existing(out, overwrite)
    try:
        source = resolve_model_path(model_path)
        model, _ = load_model(source)
        network = save_official_checkpoint(model, out)
    except (CheckpointError, OfficialWeightsError, ValueError) as error:
        raise ExportError(str(error)) from None
    arguments = ", ".join(f"{k}={v!r}" for k, v in network.items() if k != "type")
    return f"{source} -> {out}: {network['type']}({arguments}), weights under 'params'"

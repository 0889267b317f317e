"""Exporting our files to the layouts other code loads: the official NAFNet/Restormer
checkpoints (`export_official`) and PEFT LoRA adapter folders (`export_peft`)."""
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


def export_peft(adapter_path: str | Path, out: str | Path, base: str | Path | None = None,
                merge_unsupported: bool = False, overwrite: bool = False) -> str:
    """Write ADAPTER as a PEFT LoRA adapter folder (see trainer.export_peft); a summary line."""
    from trainer.export_peft import (BASE_NAME, CONFIG_NAME, WEIGHTS_NAME, plan_peft,
                                     write_peft_folder)

    out = Path(out)
    for name in (CONFIG_NAME, WEIGHTS_NAME, BASE_NAME):
        refuse_existing(out / name, overwrite)
    pristine, adapted, info = _base_and_adapted(adapter_path, base)
    deltas, tuned = adapter_parts(adapted)
    plan = plan_peft(pristine, deltas, tuned)
    if not plan.lora:
        raise ExportError(f"{adapter_path}: holds no layer PEFT loads as LoRA; nothing was "
                          "written (`trainer merge` makes it a plain model)")
    if plan.unsupported and not merge_unsupported:
        part, why = plan.unsupported[0]
        raise ExportError(f"{adapter_path}: PEFT cannot represent {len(plan.unsupported)} part(s) "
                          f"of this adapter, e.g. {part} ({why}); nothing was written. Pass "
                          f"--merge-unsupported to bake them into a new base model, {out / BASE_NAME}")
    base_name = info.get("preset") or "base"
    if plan.unsupported:
        _write_merged_base(out / BASE_NAME, pristine, plan, info)
        base_name = BASE_NAME
    else:  # an earlier export's merged base (replaced with --overwrite) is not this one's
        (out / BASE_NAME).unlink(missing_ok=True)
    write_peft_folder(out, pristine, plan, tuned, base_name)
    merged = (f"; {len(plan.unsupported)} part(s) PEFT cannot represent merged into "
              f"{out / BASE_NAME}, the base to load it on" if plan.unsupported else "")
    return (f"{adapter_path} -> {out}: {len(plan.lora)} LoRA layers, "
            f"{len(plan.saved_modules)} modules to save{merged}")


def _base_and_adapted(adapter_path, base):
    """(the base model, a second copy with the adapter attached, the adapter's info)."""
    from trainer.adapters import AdapterError, load_adapter, read_adapter
    from trainer.adapters.levels import refuse_levelled
    from trainer.checkpoint import CheckpointError, load_model, resolve_model_path

    try:
        adapter = read_adapter(adapter_path)
        refuse_levelled(adapter.record, adapter_path, "a PEFT export")
        info = dict(adapter.record.info)
        if base is None and not info.get("base_path"):
            raise ExportError(f"{adapter_path}: names no base model; pass --base")
        source = resolve_model_path(base if base is not None else info["base_path"])
        pristine, metadata = load_model(source)
        adapted = load_adapter(load_model(source)[0], adapter)
    except (CheckpointError, AdapterError) as error:
        raise ExportError(str(error)) from None
    return pristine, adapted, {"preset": metadata.get("preset"), **info,
                               "task": adapter.record.task.get("name", "")}


def adapter_parts(adapted) -> tuple[dict, dict]:
    """(weight changes by layer name: LoRA or DoRA factors, a dense tensor for any other
    variant; tuned tensor values by parameter name) of the adapter a model carries."""
    from trainer.adapters import LowRank, adapted_layers
    from trainer.adapters.methods.dora import WeightDecomposed
    from trainer.export_peft import LowRankDelta

    deltas, tuned = {}, {}
    for name, layer in adapted_layers(adapted).items():
        (adapter,) = layer.adapter_names()
        factors = layer.factors[adapter] if adapter in layer.factors else None
        if type(factors) in (LowRank, WeightDecomposed):
            magnitude = getattr(factors, "magnitude", None)
            deltas[name] = LowRankDelta(factors.lora_A.detach(), factors.lora_B.detach(),
                                        factors.scaling,
                                        None if magnitude is None else magnitude.detach())
        elif factors is not None:
            deltas[name] = factors.delta_weight(layer.base_layer.weight).detach()
        if adapter in layer.tuned:
            tuned.update({f"{name}.{leaf}": value.detach()
                          for leaf, value in layer.tuned[adapter].items()})
    return deltas, tuned


def _write_merged_base(path: Path, base, plan, info: dict) -> None:
    from trainer.checkpoint import save_model
    from trainer.export_peft import merged_base

    save_model(path, merged_base(base, plan), {"preset": info.get("preset") or "",
                                               "merged_for_peft": info.get("task", "")})

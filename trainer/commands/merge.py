"""`trainer merge BASE ADAPTER --out MODEL`: fold an adapter into its base, as a plain model."""
from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("adapter", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged model file (.safetensors) to write.")
def merge(base, adapter, out):
    """Write BASE with ADAPTER merged in as an ordinary model file.

    BASE is the model file (or run folder) the adapter was trained on; ADAPTER an
    adapter.safetensors from `trainer colora`. The result loads anywhere a model does, with no
    adapter, at the base model's size and speed.

    \b
    Example:
      trainer merge runs/pretrain runs/colora/blur-colora/adapter.safetensors --out blur.safetensors
    """
    from trainer.checkpoint import CheckpointError, load_model, save_model
    from trainer.colora import AdapterError, load_adapter, merge_and_unload, read_adapter

    try:
        model, metadata = load_model(base)
        _, adapter_meta = read_adapter(adapter)
        merged = merge_and_unload(load_adapter(model, adapter))
    except (CheckpointError, AdapterError) as error:
        raise click.UsageError(str(error)) from None
    info = adapter_meta["info"]
    save_model(out, merged, {"preset": metadata.get("preset") or "",
                             "merged_adapter": str(adapter), "task": info.get("task", ""),
                             "method": info.get("method", "")})
    click.echo(f"merged {adapter} into {base} -> {out}")

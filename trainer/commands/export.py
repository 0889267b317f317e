"""`trainer export`: a model in the official NAFNet/Restormer layout, or an adapter as a PEFT
LoRA adapter folder."""
from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--official", type=click.Path(dir_okay=False, path_type=Path),
              help="Write SOURCE (a model file or run folder) as the official code's .pth.")
@click.option("--peft", type=click.Path(file_okay=False, path_type=Path),
              help="Write SOURCE (an adapter file) as a PEFT LoRA adapter folder.")
@click.option("--base", type=click.Path(exists=True, path_type=Path),
              help="--peft: the adapter's base model [default: the path the adapter names].")
@click.option("--merge-unsupported", is_flag=True,
              help="--peft: bake what PEFT cannot represent (LoRA on depthwise/grouped convs, "
                   "tensors of non-leaf modules) into a new base model in the folder, instead "
                   "of refusing.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def export(source, official, peft, base, merge_unsupported, overwrite):
    """Export a model or an adapter so that other code loads it without colora-kit.

    --official writes the checkpoint layout of the official NAFNet / Restormer code, with their
    constructor arguments: {"params": state dict, "network_g": {"type": "NAFNet", "width": 32,
    ...}}, as BasicSR option files name them.

    --peft writes adapter_config.json and adapter_model.safetensors for
    peft.PeftModel.from_pretrained(base_model, FOLDER), base_model being the same network
    (built by colora-kit or by the official code, whose module names ours keep).

    \b
    Examples:
      trainer export runs/pretrain --official nafnet.pth
      trainer export runs/colora/blur-colora/adapter.safetensors --peft blur-peft/ --merge-unsupported
    """
    from trainer.export import ExportError, export_official, export_peft

    if (official is None) == (peft is None):
        raise click.UsageError("say what to write: --official OUT.pth or --peft OUT_FOLDER")
    try:
        if official is not None:
            click.echo(export_official(source, official, overwrite))
        else:
            click.echo(export_peft(source, peft, base, merge_unsupported, overwrite))
    except ExportError as error:
        raise click.ClickException(str(error)) from None

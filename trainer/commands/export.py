"""`trainer export`: our model files in the official NAFNet/Restormer layout."""
from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--official", type=click.Path(dir_okay=False, path_type=Path),
              help="Write SOURCE (a model file or run folder) as the official code's .pth.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def export(source, official, overwrite):
    """Export a model so that other code loads it without colora-kit.

    --official writes the checkpoint layout of the official NAFNet / Restormer code, with their
    constructor arguments: {"params": state dict, "network_g": {"type": "NAFNet", "width": 32,
    ...}}, as BasicSR option files name them.

    \b
    Examples:
      trainer export runs/pretrain --official nafnet.pth
      python -c "import torch; c = torch.load('nafnet.pth'); print(c['network_g'])"
    """
    from trainer.export import ExportError, export_official

    if official is None:
        raise click.UsageError("say what to write: --official OUT.pth")
    try:
        click.echo(export_official(source, official, overwrite))
    except ExportError as error:
        raise click.ClickException(str(error)) from None

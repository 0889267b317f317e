"""`degrade info DIR`: a thin CLI over pipelines.info.dataset_info."""
from __future__ import annotations

import click


@click.command("info")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--examples", type=int, default=3, show_default=True, help="Example chains to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(folder, examples, as_json):
    """Summarise a build-shards folder: pairs, shards, bytes, options, samples per op, chain lengths
    and a few example chains.

    \b
    Example:
      degrade info shards/
    """
    import json

    from pipelines.info import dataset_info, format_info

    try:
        summary = dataset_info(folder, examples)
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))

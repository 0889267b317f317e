"""`trainer models`: the registered model presets with their sizes and block layout."""
from __future__ import annotations

import json

import click


@click.command("models")
@click.argument("preset", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(preset, as_json):
    """List the model presets with parameter and block counts, or one PRESET's blocks.

    Blocks are what FAIG scores and CoLoRA adapts: "block i" is row i of `trainer models
    PRESET` (parts: encoder, middle, decoder). Pass a preset to `--model` of `trainer pretrain`.

    \b
    Examples:
      trainer models
      trainer models nafnet-sidd-w32
      trainer models restormer --json
    """
    from trainer.models.summary import summarize_preset, summarize_presets

    try:
        summaries = [summarize_preset(preset)] if preset else summarize_presets()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="PRESET") from None
    if as_json:
        payload = [s.as_dict() for s in summaries]
        click.echo(json.dumps(payload[0] if preset else payload, indent=2))
    elif preset:
        click.echo(_block_table(summaries[0]))
    else:
        click.echo(_preset_table(summaries))


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M"


def _preset_table(summaries) -> str:
    header = (f"{'preset':<22} {'arch':<10} {'parameters':>12} {'blocks':>6}  "
              f"{'enc/mid/dec blocks':<18} {'enc/mid/dec params':<22} description")
    rows = [header, "-" * len(header)]
    for s in summaries:
        counts, params = s.block_counts(), s.block_parameters
        parts = ("encoder", "middle", "decoder")
        layout = "/".join(str(counts.get(p, 0)) for p in parts)
        sizes = "/".join(_millions(params.get(p, 0)) for p in parts)
        rows.append(f"{s.name:<22} {s.arch:<10} {s.parameters:>12,} {len(s.blocks):>6}  "
                    f"{layout:<18} {sizes:<22} {s.description}")
    return "\n".join(rows)


def _block_table(summary) -> str:
    rows = [f"{summary.name}: {summary.arch}, {summary.parameters:,} parameters, "
            f"{len(summary.blocks)} blocks",
            "config: " + json.dumps(summary.config),
            f"{'index':>5}  {'part':<8} {'parameters':>11}  name"]
    rows += [f"{b.index:>5}  {b.part:<8} {b.parameters:>11,}  {b.name}" for b in summary.blocks]
    return "\n".join(rows)

"""`trainer models`: the registered model presets with their sizes and block layout."""
from __future__ import annotations

import json

import click


@click.command("models")
@click.argument("preset", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--import-official", "official", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Convert an official NAFNet/Restormer release (.pth, read "
                                 "weights-only) into a model file for eval/restore/colora; "
                                 "PRESET is detected from its shapes when omitted.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Model file (.safetensors) written by --import-official.")
def models(preset, as_json, official, out):
    """List the model presets with parameter and block counts, or one PRESET's blocks.

    Blocks are what FAIG scores and CoLoRA adapts: "block i" is row i of `trainer models
    PRESET` (parts: encoder, middle, decoder). Pass a preset to `--model` of `trainer pretrain`.

    \b
    Examples:
      trainer models
      trainer models nafnet-sidd-w32
      trainer models restormer --json
      trainer models --import-official NAFNet-SIDD-width32.pth --out nafnet-sidd.safetensors
    """
    if official is not None or out is not None:
        _import_official(preset, official, out)
        return
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


def _import_official(preset, official, out):
    if official is None or out is None:
        raise click.UsageError("--import-official and --out go together")
    from pipelines.files import sha256_file
    from trainer.checkpoint import save_model
    from trainer.models import create_model
    from trainer.models.official import (OfficialWeightsError, find_matching_presets,
                                         load_official_state_dict, read_official_checkpoint)

    try:
        state_dict = read_official_checkpoint(official)  # its messages name the file
    except OfficialWeightsError as error:
        raise click.ClickException(str(error)) from None
    if preset is None:
        preset = _detect_preset(official, find_matching_presets(state_dict))
    try:
        model = load_official_state_dict(create_model(preset), state_dict)
    except OfficialWeightsError as error:
        raise click.ClickException(f"{official}: {error}") from None
    except ValueError as error:  # unknown preset name
        raise click.BadParameter(str(error), param_hint="PRESET") from None
    written = save_model(out, model, {"source": str(official),
                                      "source_sha256": sha256_file(official)})
    click.echo(f"{preset}: {sum(p.numel() for p in model.parameters()):,} parameters from "
               f"{official} -> {written}")


def _detect_preset(official, matches):
    if len(matches) != 1:
        found = f"matches {', '.join(matches)}" if matches else "matches no registered preset"
        raise click.ClickException(f"{official}: {found}; name the PRESET "
                                   "(`trainer models` lists them)")
    return matches[0]

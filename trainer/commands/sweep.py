"""`trainer sweep MODEL IMAGE --adapter A --levels 5:75:5 --out sweep.html`: one image restored
at a series of levels by a level adapter, in one self-contained HTML page with a slider."""
from __future__ import annotations

from pathlib import Path

import click

from degrade.clioutputs import check_outputs, overwrite_option
from trainer.levelling_defaults import DEFAULT_ESTIMATOR
from trainer.commands.options import quiet_option

DEFAULT_STEPS = 15  # values over the trained range when --levels is not given


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, path_type=Path))
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--adapter", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A level adapter (trained with --method levels or levels-full).")
@click.option("--levels", "levels", metavar="LOW:HIGH:STEP",
              help=f"The levels to restore at, in the adapter's natural units (noise sigma, "
                   f"jpeg quality) [default: its trained range in {DEFAULT_STEPS} steps].")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML page to write (images embedded; opens offline).")
@click.option("--estimator", type=click.Path(path_type=Path), default=Path(DEFAULT_ESTIMATOR),
              show_default=True, help="The degradation estimator whose level is marked.")
@click.option("--no-estimate", is_flag=True, help="Mark no estimated level (no estimator run).")
@click.option("--extrapolate", is_flag=True,
              help="Allow levels outside the adapter's trained range (marked on the page).")
@click.option("--tile", type=int, help="Restore in tiles of this size (default: whole image).")
@click.option("--device", help="cpu or cuda [default: cuda when available].")
@overwrite_option
@quiet_option
def sweep(model_path, image, adapter, levels, out, estimator, no_estimate, extrapolate, tile,
          device, overwrite, quiet):
    """Restore IMAGE with a level adapter at every level of --levels and write one HTML page:
    a slider moves through the outputs, the input beside them, the estimated level marked.

    \b
    Examples:
      trainer sweep runs/pretrain noisy.png --adapter noise-levels.safetensors \\
          --levels 15:75:5 --out sweep.html
      trainer sweep runs/pretrain noisy.png --adapter noise-levels.safetensors \\
          --levels 5:75:5 --extrapolate --out sweep.html    # below the trained 15..75 too
      trainer sweep runs/pretrain photo.jpg --adapter jpeg-levels.safetensors --no-estimate \\
          --out sweep.html
    """
    from tqdm import tqdm

    from pipelines.files import write_text_atomically
    from pipelines.sources import SourceError, load_image
    from trainer.adapters import adapter_records
    from trainer.adapters.levels import adapter_scale
    from trainer.distributed import resolve_device
    from trainer.levelling import load_level_estimator, estimate_natural
    from trainer.restore import check_tiling, load_for_inference
    from trainer.sweep import run_sweep, sweep_html

    check_tiling(tile, 32)
    check_outputs([out], [image, model_path, adapter], overwrite)
    model, _ = load_for_inference(model_path, adapter, resolve_device(device))
    device = next(model.parameters()).device
    scale = adapter_scale(next(iter(adapter_records(model).values())), str(adapter))
    values = sweep_values(levels, scale, extrapolate, str(adapter))
    try:
        picture = load_image(image)
    except SourceError as error:
        raise SourceError(f"{image}: {error}") from None
    estimated = None
    if not no_estimate:
        found = load_level_estimator(estimator, scale, str(device))
        estimated = estimate_natural(found, scale, picture, True, str(device))
    bar = (lambda items: tqdm(items, unit="level", desc="sweep", disable=quiet))
    result = run_sweep(model, image.stem, picture, scale, values, device, tile, estimated, bar)
    write_text_atomically(out, sweep_html(result))
    marked = (f", estimated {scale.symbol} {estimated:.3g}" if estimated is not None else "")
    click.echo(f"swept {image.name} over {len(values)} levels ({scale.symbol} {values[0]:g}.."
               f"{values[-1]:g}{marked}) -> {out}")


def sweep_values(text, scale, extrapolate: bool, source: str) -> list[float]:
    """The --levels values (default: the trained range); each checked against the range."""
    import click as _click

    from trainer.adapters.levels import check_in_range, parse_range, range_values
    from trainer.finetune.level_data import snapped

    if text is None:
        step = (scale.high - scale.low) / (DEFAULT_STEPS - 1)
        values = range_values(scale.low, scale.high, step)
    else:
        low, high, step = parse_range(text, scale.op, "levels", with_step=True)
        values = range_values(low, high, step if step is not None else (high - low) / (DEFAULT_STEPS - 1))
    values = list(snapped(scale.op, values))
    outside = [v for v in values if not scale.inside(v)]
    if outside:
        check_in_range(scale, outside[0], extrapolate, source,
                       lambda line: _click.echo(line, err=True), "levels")
    return values

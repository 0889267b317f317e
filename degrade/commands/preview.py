"""`degrade preview`: a labelled grid of clean and degraded crops, written as one image."""
from __future__ import annotations

import click

from degrade.clioutputs import check_outputs, overwrite_option
from degrade.commands.common import (check_output_path, encode_image, pool_options, read_image,
                                     resolve_pool_option)
from pipelines.files import write_bytes_atomically


def _embedded_default_image():
    """scikit-image's bundled astronaut photograph (read from the wheel, no download)."""
    from skimage import data

    return data.astronaut()


@click.command("preview")
@click.argument("image", required=False, type=click.Path(dir_okay=False))
@pool_options
@click.option("--count", type=int, default=16, show_default=True, help="Number of crops.")
@click.option("--crop", type=int, default=128, show_default=True, help="Crop side in pixels.")
@click.option("--mode", type=click.Choice(["prod", "fixed", "single"]), default="prod",
              show_default=True, help="Chain mode: PROD, fixed canonical order, or one op.")
@click.option("--min-length", type=int, default=1, show_default=True,
              help="Minimum chain length (0 admits the identity).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same grid.")
@click.option("--out", default="preview.png", show_default=True, help="Output image (PNG/JPEG).")
@overwrite_option
def preview(image, ops, k, max_length, count, crop, mode, min_length, seed, out, overwrite):
    """Write a grid of random crops of IMAGE, each beside a PROD-degraded copy with its chain
    written underneath (op names and parameters, in the order applied). Without IMAGE, uses
    scikit-image's bundled astronaut photograph.

    \b
    Examples:
      degrade preview --out preview.png
      degrade preview photo.jpg --k 7 --n 6 --count 16 --seed 3
      degrade preview --ops rain,jpeg --n 2 --mode fixed
    """
    from degrade.chain import check_chain_options
    from degrade.imageconv import float_to_uint8, to_float_rgb
    from degrade.preview import GridStyle, preview_grid

    pool = resolve_pool_option(ops, k, max_length)
    for value, name in ((count, "--count"), (crop, "--crop")):
        if value < 1:
            raise click.BadParameter(f"must be >= 1, got {value}", param_hint=f"'{name}'")
    if seed < 0:
        raise click.BadParameter(f"must be >= 0, got {seed}", param_hint="'--seed'")
    try:
        check_chain_options(pool, max_length, mode, min_length)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--min-length'") from None
    out_path = check_output_path(out)
    check_outputs([out_path], [image], overwrite)
    picture = read_image(image) if image else _embedded_default_image()
    if min(picture.shape[:2]) < crop:
        raise click.BadParameter(f"{crop} is larger than the image ({picture.shape[1]}x"
                                 f"{picture.shape[0]}); use a crop of at most "
                                 f"{min(picture.shape[:2])} or a larger image",
                                 param_hint="'--crop'")
    rgb_uint8 = float_to_uint8(to_float_rgb(picture)[0])
    grid, _ = preview_grid(rgb_uint8, seed, pool, max_length, count, mode, min_length,
                           GridStyle(crop=crop))
    write_bytes_atomically(out_path, encode_image(grid, out_path.suffix.lower()))
    click.echo(f"wrote {out_path} ({grid.shape[1]}x{grid.shape[0]}, {count} crops, "
               f"K={len(pool)}, N={max_length}, mode {mode}, seed {seed})")

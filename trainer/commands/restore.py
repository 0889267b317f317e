"""`trainer restore MODEL IMAGES... --out DIR`: restore images of any size, tiled when large."""
from __future__ import annotations

from pathlib import Path

import click

from degrade.clioutputs import check_outputs, overwrite_option
from degrade.errors import ConfigError
from trainer.commands.composition_options import check_router_inputs_used, composition_options
from trainer.commands.level_options import (check_level_use, inference_level_options,
                                            level_choice_for)
from trainer.commands.options import quiet_option


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; each result is written as STEM.png.")
@click.option("--tile", type=int, default=512, show_default=True,
              help="Tile size for images larger than it (0: always the whole image).")
@click.option("--overlap", type=int, default=32, show_default=True,
              help="Overlap between tiles, blended with linear ramps.")
@click.option("--adapter", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CoLoRA adapter file to attach to the model first.")
@click.option("--device", help="cpu or cuda [default: cuda when available].")
@click.option("--amp", type=click.Choice(["bf16", "fp16", "none"]), default="none",
              show_default=True, help="Mixed precision for inference.")
@inference_level_options
@composition_options
@click.option("--explain", "explain_path", type=click.Path(dir_okay=False, path_type=Path),
              help="With --adapters: a PNG showing, per image, the input, the output and "
                   "the weight of each adapter.")
@overwrite_option
@quiet_option
def restore(model_path, images, out, tile, overlap, adapter, device, amp, overwrite, quiet,
            explain_path, level, extrapolate, **composition):
    """Restore IMAGES (files, or folders of images) with MODEL (.safetensors or a run folder).

    Any size works: images larger than --tile are processed in overlapping tiles whose seams
    are blended away. Outputs are lossless RGB PNGs named after the inputs (an alpha channel
    is dropped: the networks restore RGB; `degrade apply` keeps alpha). Existing files,
    inputs included, are never replaced without --overwrite.

    With --adapters, task adapters are composed per image (W = W0 + sum_k w_k dW_k) with
    weights from the degradation estimator (--weights auto), the true degradations (oracle)
    or given numbers; the weights used are printed per image.

    \b
    Examples:
      trainer restore runs/pretrain photo.jpg scans/ --out restored/
      trainer restore runs/pretrain photos/ --out restored/ --adapters runs/adapters/ \\
          --estimator runs/estimator --top-k 2 --explain why.png
      trainer restore runs/pretrain photos/ --out restored/ \\
          --adapters noise.safetensors,jpeg.safetensors --weights 0.7,0.3
      trainer restore runs/pretrain noisy.png --adapter noise-levels.safetensors --level 25 --out r/
      trainer restore runs/pretrain noisy/ --adapter noise-levels.safetensors --level auto --out r/
    """
    from tqdm import tqdm

    from pipelines.codecs import encode_png
    from pipelines.files import write_bytes_atomically
    from trainer.distributed import resolve_device
    from trainer.levelling import condition_on, describe_levels
    from trainer.restore import check_tiling, load_for_inference, restore_image

    tile = tile or None
    check_tiling(tile, overlap)
    paths = expand_images(images)
    outputs = [out / f"{path.stem}.png" for path in paths]
    check_level_use(level, composition["adapter_set"])
    check_router_inputs_used(composition["adapter_set"], composition["estimator_path"],
                             composition["labels_path"], level)
    if composition["adapter_set"] is not None or explain_path is not None:
        from trainer.commands.composition_restore import restore_composed

        return restore_composed(model_path, paths, outputs, out, adapter, tile, overlap,
                                device, amp, overwrite, quiet, explain_path, composition)
    check_outputs(outputs, [*paths, model_path, adapter], overwrite)
    model, _ = load_for_inference(model_path, adapter, resolve_device(device))
    device = next(model.parameters()).device
    choice = level_choice_for(model, level, adapter, extrapolate,
                              composition["estimator_path"], device)
    used = []
    for path, output in zip(tqdm(paths, unit="img", desc="restore", disable=quiet), outputs):
        image = read_image(path)
        if choice is not None:
            used.append(condition_on(model, choice, image))
        result = restore_image(model, image, device, tile=tile, overlap=overlap, amp=amp)
        write_bytes_atomically(output, encode_png(result))
    at = f" at {describe_levels(choice, used)}" if choice is not None else ""
    click.echo(f"restored {len(paths)} image(s){at} -> {out}")


def read_image(path: Path):
    """The image as uint8 RGB; SourceError naming the file."""
    from pipelines.sources import SourceError, load_image

    try:
        return load_image(path)
    except SourceError as error:  # its reason does not name the file
        raise SourceError(f"{path}: {error}") from None


def expand_images(images) -> list[Path]:
    """list_images, refusing two inputs that would write the same output name."""
    paths = list_images(images)
    stems = {}
    for path in paths:
        if path.stem in stems:
            raise ConfigError("images", f"{stems[path.stem]} and {path} would both be written "
                              f"as {path.stem}.png")
        stems[path.stem] = path
    return paths


def list_images(images) -> list[Path]:
    """Files as given and folders' images (sorted); ConfigError for a missing path or when no
    image is found."""
    from pipelines.sources import find_sources

    paths = []
    for item in images:
        if item.is_dir():
            paths.extend(find_sources(src_dir=item))
        elif item.exists():
            paths.append(item)
        else:
            raise ConfigError("images", f"{item}: no such image or folder")
    if not paths:
        raise ConfigError("images", "no images found in the given folders")
    return paths

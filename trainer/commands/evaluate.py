"""`trainer eval MODEL --data DIR`: PSNR/SSIM per image, their mean, and the identity baseline."""
from __future__ import annotations

from pathlib import Path

import click

from degrade.clioutputs import check_outputs, overwrite_option
from trainer.commands.composition_options import check_router_inputs_used, composition_options
from trainer.commands.level_options import (check_level_use, inference_level_options,
                                            level_choice_for)
from trainer.commands.options import quiet_option


@click.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, path_type=Path))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A paired folder (lq/ + gt/, or input/ + target/) or a shard folder.")
@click.option("--limit", type=int, help="Evaluate at most this many pairs.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("eval.csv"),
              show_default=True, help="Per-image CSV (with a final mean row); an existing one is "
                                      "kept unless --overwrite.")
@click.option("--adapter", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CoLoRA adapter file to attach to the model first.")
@click.option("--device", help="cpu or cuda [default: cuda when available].")
@click.option("--amp", type=click.Choice(["bf16", "fp16", "none"]), default="none",
              show_default=True, help="Mixed precision for inference.")
@click.option("--tile", type=int, help="Restore in tiles of this size (default: whole images).")
@click.option("--overlap", type=int, default=32, show_default=True, help="Tile overlap.")
@inference_level_options
@composition_options
@overwrite_option
@quiet_option
def evaluate(model_path, data, limit, out, adapter, device, amp, tile, overlap, overwrite,
             quiet, level, extrapolate, **composition):
    """Score MODEL (a .safetensors file or a run folder) on paired images.

    Reports PSNR and SSIM (RGB, 0-255, as restoration papers) per image in a CSV, their means,
    and the identity baseline (the degraded input scored against the target).

    With --adapters, each pair is restored by task adapters composed with its own weights
    (see `trainer restore --help`); the summary adds the mean weight of each adapter.

    \b
    Examples:
      trainer eval runs/pretrain --data val/ --out val.csv
      trainer eval runs/pretrain --data mixed/blur+noise-heavy --adapters runs/adapters/ \\
          --weights oracle --labels mixed/blur+noise-heavy
      trainer eval runs/pretrain --data noisy25/ --adapter noise-levels.safetensors --level 25
    """
    from pipelines.pairs import iter_pairs
    from trainer.distributed import resolve_device
    from trainer.evaluate import evaluate_pairs, write_report
    from trainer.levelling import conditioned, describe_levels
    from trainer.restore import check_tiling, load_for_inference

    check_tiling(tile, overlap)
    check_level_use(level, composition["adapter_set"])
    check_router_inputs_used(composition["adapter_set"], composition["estimator_path"],
                             composition["labels_path"], level)
    if composition["adapter_set"] is not None:
        from trainer.commands.composition_restore import evaluate_composed

        return evaluate_composed(model_path, data, limit, out, adapter, device, amp, tile,
                                 overlap, overwrite, quiet, composition)
    check_outputs([out], [model_path, adapter], overwrite)
    model, _ = load_for_inference(model_path, adapter, resolve_device(device))
    device = next(model.parameters()).device
    pairs = iter_pairs(data, limit=limit)
    choice = level_choice_for(model, level, adapter, extrapolate,
                              composition["estimator_path"], device)
    used = []
    if choice is not None:
        pairs = conditioned(pairs, model, choice, used)
    report = evaluate_pairs(model, pairs, device, amp, tile, overlap, progress=not quiet,
                            total=limit)
    if not report.scores:
        raise click.ClickException(f"--data {data}: no image pairs found")
    write_report(report, out)
    at = f"{describe_levels(choice, used)}: " if choice is not None else ""
    click.echo(f"{at}{report.summary()} -> {out}")

"""`trainer estimator train|eval`: train the degradation estimator on shards, score it on
held-out shards."""
from __future__ import annotations

import json
from pathlib import Path

import click

from degrade.lazycli import LazyGroup


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def estimator():
    """A small CNN that tells which degradations an image carries and how strong they are,
    trained on shards with their chain records as labels.

    \b
    Start here:
      trainer estimator train shards/ --out runs/estimator
      trainer estimate runs/estimator photos/
      trainer estimator eval runs/estimator --data held-out-shards/
    """


@estimator.command()
@click.argument("shards", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/estimator"), show_default=True, help="Run folder.")
@click.option("--steps", type=int, default=4200, show_default=True, help="Optimiser steps.")
@click.option("--batch", type=int, default=16, show_default=True, help="Images per step.")
@click.option("--patch", type=int, default=128, show_default=True,
              help="Training crop (a multiple of 8, at most the shards' image size); also "
                   "the tile size at inference.")
@click.option("--lr", type=float, default=5e-3, show_default=True, help="Peak AdamW rate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Data order and init.")
@click.option("--level-span", type=float, default=3.0, show_default=True,
              help="Highest level the estimator reports, in units of the sampled range (3: "
                   "noise sigma up to 90 where PROD samples 1-30).")
@click.option("--wide-share", type=float, default=0.125, show_default=True,
              help="Share of each batch redrawn as one settable op (Gaussian noise, JPEG) at a "
                   "level from its visibility floor to --level-span, beyond the shards' ranges "
                   "(0: shards only).")
@click.option("--single-share", type=float, default=0.5, show_default=True,
              help="Share of each batch redrawn as its clean crop under one op of the pool, "
                   "drawn as PROD draws it (shards hold chains of 1-N ops, so one op alone is "
                   "rare in them; 0: shards only).")
@click.option("--camera-share", type=float, default=0.0, show_default=True,
              help="Share of each batch redrawn as a camera makes a photograph: half faint "
                   "noise spread over neighbouring pixels, mostly grey (sigma 2-10), then JPEG "
                   "60-95, half JPEG alone. 0.25 reported 8 of PolyU's 100 real noisy "
                   "photographs as noisy instead of 0-1, at a cost on images with long chains "
                   "(docs/estimator.md, ninth run).")
@click.option("--head-crops", type=int, default=8192, show_default=True,
              help="Fresh crops whose frozen features the head is refitted on after the "
                   "steps (about 2 CPU minutes; 0: keep the head as trained).")
@click.option("--head-camera-share", type=float, default=0.0, show_default=True,
              help="Share of the head-refit crops redrawn camera-like, as --camera-share "
                   "draws them; with --resume it refits a finished run's head "
                   "(docs/estimator.md).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--workers", type=int, default=0, show_default=True,
              help="Data-loading processes (0: in the training process).")
@click.option("--threads", type=int, help="torch CPU threads (default: torch's choice).")
@click.option("--ckpt-every", type=int, default=100, show_default=True,
              help="Checkpoint interval in steps.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(shards, out, steps, batch, patch, lr, seed, level_span, wide_share, single_share,
          camera_share, head_crops, head_camera_share, device, workers, threads, ckpt_every,
          resume, quiet):
    """Train an estimator on SHARDS (a build-shards folder; its records are the labels).

    The estimator covers the shards' op pool: per op, a presence probability and the level
    of its strongest occurrence. Writes OUT/metrics.jsonl, OUT/checkpoints/ and, at the end,
    OUT/model.safetensors. The default (4200 steps of 16 crops of 128x128, the shard
    size the examples build) is about 30 minutes on one idle CPU core.

    Half of each batch (--single-share) is redrawn as its clean crop under one op alone:
    shards hold chains of 1 to N ops, while one degradation alone is what photographs most
    often carry (it lifted every single-op AUROC; docs/estimator.md, eighth run).

    Levels are degrade's linear levels: 1 is the top of the range PROD samples. Shards only
    hold that range, so an eighth of each batch (--wide-share) is redrawn as Gaussian noise or
    JPEG up to --level-span (sigma 90, quality 1), which level-conditioned adapters need.

    \b
    Examples:
      degrade build-shards --src photos/ --patch 128 --count 20000 --out est-shards
      trainer estimator train est-shards --out runs/estimator --threads 1
      trainer estimator train est-shards --out runs/estimator-gpu --device cuda \\
          --batch 256 --steps 1500 --workers 14     # about 7 minutes on one GPU + 16 cores

    On a GPU the shard reader, not the model, sets the pace (measured on an H200 with 16
    cores: about 1,000-1,300 crops/s against 7,000 for the model alone); bench/estimator_gpu.sh
    measures it first and trains the steps that fit a time budget.
    """
    import torch

    from trainer.estimator.training import EstimatorTrainConfig, train_estimator

    if threads:
        torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise click.BadParameter("CUDA is not available on this machine", param_hint="'--device'")
    config = EstimatorTrainConfig(str(shards), str(out), steps=steps, batch=batch, patch=patch,
                                  lr=lr, seed=seed, level_span=level_span,
                                  wide_share=wide_share, single_share=single_share,
                                  camera_share=camera_share, head_crops=head_crops,
                                  head_camera_share=head_camera_share,
                                  device=device,
                                  workers=workers,
                                  ckpt_every=ckpt_every, progress=not quiet)
    result = train_estimator(config, resume=resume)  # errors: one line from the boundary
    head = result.head_refit
    refit = (f"; head refitted on {head['crops']:,} crops, held-back loss "
             f"{head['validation_loss_before']:.4f} -> {head['validation_loss_after']:.4f}"
             if head else "")
    click.echo(f"trained {result.parameters:,}-parameter estimator for {result.steps} steps "
               f"(last loss {result.last_loss:.4f}{refit}) -> {result.model_path}")


@estimator.command("eval")
@click.argument("estimator_path", metavar="ESTIMATOR", type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Held-out shards (a build-shards folder of the same op pool or a subset).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for eval.json and confusion.png [default: ESTIMATOR's run folder "
                   "/ eval-DATA-NAME].")
@click.option("--limit", type=int, help="Score at most this many images.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--overwrite", is_flag=True, help="Replace eval.json and confusion.png in --out.")
def eval_command(estimator_path, data, out, limit, device, overwrite):
    """Score ESTIMATOR (a run folder or .safetensors) on held-out shards: per-op AUROC and
    level MAE in natural units, overall, for single-op images, above and below each op's
    visibility floor, by chain length and by position in the chain; family AUROC (noise,
    blur, jpeg, rain); and a confusion chart of single-op images.

    \b
    Example:
      trainer estimator eval runs/estimator --data held-out-shards/
    """
    from pipelines.files import write_text_atomically
    from trainer.estimator.evaluation import collect, evaluate, plot_confusion, summary_lines
    from trainer.estimator.files import load_estimator

    # bad files, shards and records raise KitErrors: the boundary prints their one line
    model, metadata = load_estimator(estimator_path, device)
    out = out or _default_eval_folder(estimator_path, data)
    targets = [out / "eval.json", out / "confusion.png"]
    if not overwrite and any(p.exists() for p in targets):
        raise click.ClickException(f"{out}: already holds an evaluation; pass --overwrite "
                                   f"or another --out")
    tile = metadata.get("training", {}).get("patch", 64)
    report = evaluate(collect(model, data, tile, device, limit=limit))
    write_text_atomically(targets[0], json.dumps(report, indent=1) + "\n")
    plot_confusion(report, model.ops, targets[1])
    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"-> {targets[0]}, {targets[1]}")


def _default_eval_folder(estimator_path: Path, data: Path) -> Path:
    run = estimator_path if estimator_path.is_dir() else estimator_path.parent
    return run / f"eval-{data.resolve().name}"

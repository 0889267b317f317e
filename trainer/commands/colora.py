"""`trainer colora --task blur`: FAIG, then CoLoRA (or any registered method) fine-tuning."""
from __future__ import annotations

from pathlib import Path

import click

from trainer.adapters.registry import method_names
from trainer.commands.colora_options import DEFAULT_BASE, pick_device
from trainer.commands.level_options import training_level_options
from trainer.commands.options import quiet_option

TRAIN_COUNTS = ("16", "32", "64", "128")


@click.command()
@click.option("--task", required=True,
              help="Task: blur, noise, rain, jpeg, haze or an op name (names the synthetic data).")
@click.option("--base", default=DEFAULT_BASE, show_default=True,
              help="The PROD pre-trained model (.safetensors file or run folder).")
@click.option("--faig", "faig_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A faig.json from `trainer faig` [default: compute FAIG first].")
@click.option("--method", type=click.Choice(method_names()), default="colora", show_default=True,
              help="What to tune: colora/codora size ranks and bias/norm tuning by FAIG; "
                   "lora/dora use one rank; decoder and full tune tensors in full; levels/"
                   "levels-full learn a degradation level c (with --levels or --level-range).")
@click.option("--budget", type=click.FloatRange(0, 1, min_open=True),
              help="Share of the model's parameters to tune (low-rank methods) [default: 0.07].")
@click.option("--rank", type=click.IntRange(1),
              help="lora, dora: one fixed rank instead of the budget.")
@click.option("--alpha", type=click.FloatRange(0, min_open=True),
              help="Low-rank scale numerator (delta = alpha / r * B A) [default: r, a scale of 1].")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Real training pairs (lq/+gt/ folder or shards) [default: synthesised].")
@click.option("--train-count", type=click.Choice(TRAIN_COUNTS), default="16", show_default=True,
              help="Training pairs to use (the paper's few-shot axis).")
@click.option("--test", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Real test pairs [default: synthesised from held-out images].")
@click.option("--test-count", type=click.IntRange(1), default=8, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True)
@click.option("--patch", type=click.IntRange(8), default=128, show_default=True,
              help="Training crop size (synthetic pairs are twice this size).")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-4, show_default=True)
@click.option("--faig-steps", type=click.IntRange(1), default=100, show_default=True,
              help="FAIG integration steps M, when FAIG is computed here.")
@click.option("--faig-images", type=click.IntRange(1), default=16, show_default=True,
              help="Training pairs FAIG integrates over, when FAIG is computed here.")
@click.option("--tune-steps", type=click.IntRange(1), default=200, show_default=True,
              help="Full fine-tuning steps of FAIG's target model.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--device", help="cpu or cuda [default: cuda when available].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder [default: runs/colora/TASK-METHOD].")
@click.option("--overwrite", is_flag=True, help="Replace an existing adapter in --out.")
@click.option("--dry-run", is_flag=True,
              help="Only print the tuned parameter counts of every method; train nothing.")
@training_level_options
@quiet_option
def colora(task, base, faig_path, method, budget, rank, alpha, data, train_count, test, test_count,
           steps, batch, patch, lr, faig_steps, faig_images, tune_steps, seed, device, out,
           overwrite, dry_run, levels, level_range, level_labels, quiet):
    """Adapt the pre-trained model to one task, tuning about 7% of its parameters.

    CoLoRA ranks each layer by its FAIG contribution and gives it a LoRA rank (0 allowed) so that
    LoRA factors plus the tuned bias/normalization tensors meet --budget. With no options but
    --task it uses runs/pretrain, computes FAIG, synthesises the task's pairs from the embedded
    images and writes adapter.safetensors and summary.json; PSNR/SSIM are printed before and
    after. `trainer eval --adapter`, `trainer restore --adapter` and `trainer merge` use the
    adapter.

    \b
    Examples:
      trainer colora --task blur
      trainer colora --task rain --data rain/train --test rain/test --train-count 64
      trainer colora --task blur --method dora --rank 8 --out runs/dora-blur
      trainer colora --task blur --dry-run --budget 0.05
      trainer colora --task noise --method levels --levels 15,35,55,75
      trainer colora --task jpeg --method levels --level-range 10:80
      trainer colora --task noise --method levels --data real/ --level-labels sigmas.csv
    """
    from degrade.errors import ConfigError
    from trainer.adapters import method_config
    from trainer.finetune import AdaptRequest, TrainConfig, adapt_to_task, summary_line
    from trainer.finetune.levels import per_level_lines

    options = {"budget": budget, "rank": rank, "alpha": alpha, "seed": seed}
    try:  # option combinations click cannot check (e.g. --rank for a method without ranks)
        train = TrainConfig(steps=steps, batch=batch, patch=patch, lr=lr, seed=seed,
                            device=pick_device(device), progress=not quiet)
        request = AdaptRequest(
            task=task, out=str(out or Path("runs/colora") / f"{task}-{method}"), base=str(base),
            method=method, train=train, faig=str(faig_path) if faig_path else None,
            data=str(data) if data else None, test=str(test) if test else None,
            train_count=int(train_count), test_count=test_count, faig_steps=faig_steps,
            faig_images=faig_images, tune_steps=tune_steps, overwrite=overwrite,
            levels=levels, level_range=level_range,
            level_labels=str(level_labels) if level_labels else None)
        config = None if dry_run else method_config(method, options)
    except ConfigError:
        raise
    except ValueError as error:
        raise click.UsageError(f"--{str(error)}" if _names_option(error) else str(error)) from None
    if dry_run:
        _print_counts(request, options)
        return
    summary = adapt_to_task(_with_config(request, config))
    for line in per_level_lines(summary):
        click.echo(line)
    b, a = summary["before"], summary["after"]
    click.echo(f"test before: PSNR {b['psnr']:.2f} dB, SSIM {b['ssim']:.4f}")
    click.echo(f"test after:  PSNR {a['psnr']:.2f} dB, SSIM {a['ssim']:.4f}")
    click.echo(summary_line(summary) + f" -> {request.out}")


def _with_config(request, config):
    import dataclasses
    return dataclasses.replace(request, adapter=config)


def _names_option(error: Exception) -> bool:
    """Config errors start with the option's name ("rank: method colora has no such option")."""
    return str(error).split(":", 1)[0] in ("budget", "rank", "alpha", "seed")


def _print_counts(request, options) -> None:
    from trainer.adapters import get_method, method_names
    from trainer.finetune import method_counts

    for method, tuned, total in method_counts(request, options):
        click.echo(f"{method:<8} {tuned / 1e6:>9.3f}M of {total / 1e6:.3f}M ({100 * tuned / total:.2f}%)")
    skipped = [name for name in method_names() if get_method(name).needs_scores]
    if request.faig is None and skipped:
        click.echo(f"(not counted: {', '.join(skipped)}, whose ranks come from FAIG scores; pass "
                   "--faig FILE from `trainer faig` to count them)")

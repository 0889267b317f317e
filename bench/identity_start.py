"""Why fine-tuning from a fresh model can end below its input: default init vs the identity start.

For each of the reproduction's five tasks (the `medium` scale's data, a test subset), prints the
test PSNR of the input, of a fresh model's output with its default initialisation and started at
the identity (trainer.models.start_at_identity), and of both after one full fine-tuning run at
the scale's recipe (or --steps / --lr). One thread; about 3 CPU minutes with the defaults.

Example:
  python bench/identity_start.py --data ../shared/data --test-images 20 --steps 100 --lr 5e-4
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # studies/ is an application at the repository root
    sys.path.insert(0, str(REPO))
from studies.scales import SCALES  # noqa: E402  (light: no torch)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="The shared data folder (see bench/reproduce.py --help).")
@click.option("--scale", "scale_name", type=click.Choice(list(SCALES)), default="medium", show_default=True,
              help="Scale whose model, crops and fine-tuning recipe are used.")
@click.option("--test-images", type=click.IntRange(min=1), default=20, show_default=True,
              help="Test images per task (PolyU: at most 30).")
@click.option("--count", type=click.IntRange(min=1), default=64, show_default=True,
              help="Training pairs of the fine-tuning runs.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Fine-tuning steps [default: the scale's].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Fine-tuning learning rate [default: the scale's].")
def main(data_dir, scale_name, test_images, count, steps, lr):
    """Print input, fresh-model and fine-tuned PSNRs per task, default init vs identity start."""
    import torch

    from studies.datafolder import DataFolderError, check_data_folder
    from studies.downstream import prepare_tasks
    from studies.finetuning import finetune_and_score, input_psnrs, score_test_set
    from studies.pretraining import random_init
    from studies.reproduction import run_seed
    from studies.scales import get_scale
    from trainer.models import create_model
    from trainer.numerics import flush_denormals

    flush_denormals()
    torch.set_num_threads(1)
    base = get_scale(scale_name)
    scale = replace(base, train_counts=(count,), faig_pairs=min(base.faig_pairs, count),
                    polyu_test_count=min(test_images, 30), cbsd68_count=test_images,
                    finetune_steps=steps or base.finetune_steps,
                    finetune_lr=lr or base.finetune_lr)
    try:
        tasks = prepare_tasks(check_data_folder(data_dir, scale.cbsd68_count), scale)
    except DataFolderError as error:
        raise click.ClickException(str(error)) from None
    started = random_init(scale)  # the identity start, as pre-training and the studies use
    torch.manual_seed(scale.seed)
    default = create_model(scale.model)
    click.echo(f"{scale.model}, {count} pairs, {scale.finetune_steps} steps at lr "
               f"{scale.finetune_lr:g}, {test_images} test images per task (PSNR dB)")
    click.echo(f"{'task':<12} {'input':>6} {'default':>8} {'identity':>8} "
               f"{'default+FT':>10} {'identity+FT':>11}")
    for index, task in enumerate(tasks):
        seed = run_seed(scale, index, count)
        fresh = [np.mean(score_test_set(m, task, "cpu")) for m in (default, started)]
        tuned = [finetune_and_score(m, task, count, "full", scale, seed,
                                    "cpu").psnr for m in (default, started)]
        click.echo(f"{task.name:<12} {np.mean(input_psnrs(task)):>6.2f} {fresh[0]:>8.2f} "
                   f"{fresh[1]:>8.2f} {tuned[0]:>10.2f} {tuned[1]:>11.2f}")


if __name__ == "__main__":
    main()

"""`trainer faig --task blur`: FAIG contributions of every block and parameter kind."""
from __future__ import annotations

from pathlib import Path

import click

from degrade.clioutputs import check_outputs, overwrite_option
from trainer.commands.colora_options import DEFAULT_BASE, pick_device
from trainer.commands.options import quiet_option


@click.command()
@click.option("--base", default=DEFAULT_BASE, show_default=True,
              help="Baseline model: the PROD pre-trained .safetensors file or run folder.")
@click.option("--task", "tasks", multiple=True, required=True,
              help="Task (repeatable): blur, noise, rain, jpeg, haze or an op name.")
@click.option("--target", "targets", multiple=True,
              help="Target model per --task, in order [default: the base briefly fine-tuned].")
@click.option("--steps", type=click.IntRange(1), default=100, show_default=True,
              help="M, the integration steps.")
@click.option("--tune-steps", type=click.IntRange(1), default=200, show_default=True,
              help="Full fine-tuning steps that make a missing target.")
@click.option("--images", type=click.IntRange(1), default=16, show_default=True,
              help="Synthetic task images FAIG integrates over.")
@click.option("--patch", type=click.IntRange(8), default=256, show_default=True,
              help="Size of those images (and of the tuning crops).")
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True, help="Tuning learning rate.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--device", help="cpu or cuda [default: cuda when available].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/faig"),
              show_default=True, help="Folder for faig.json and faig_blocks.png.")
@overwrite_option
@quiet_option
def faig(base, tasks, targets, steps, tune_steps, images, patch, batch, lr, seed, device, out,
         overwrite, quiet):
    """Score how much each block and parameter kind of BASE contributes to a task.

    FAIG integrates the loss gradient along the straight path between the base and a target
    model fine-tuned on the task (M steps) and weighs it by their weight difference. With several
    --task, scores are given per task and averaged (the average drives `trainer colora`).
    Writes faig.json, a bar chart of score per block, and prints the per-kind table.

    \b
    Example:
      trainer faig --base runs/pretrain --task blur --task rain --out runs/faig
    """
    import json

    from pipelines.files import write_text_atomically
    from trainer.faig import kind_table, plot_block_scores
    from trainer.finetune import TrainConfig, faig_for_tasks

    check_outputs([out / "faig.json", out / "faig_blocks.png"], [base, *targets], overwrite)
    tune = TrainConfig(steps=tune_steps, batch=batch, patch=patch, lr=lr, seed=seed,
                       device=pick_device(device), progress=not quiet)
    report = faig_for_tasks(base, tasks, targets, tune, steps, images)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "faig.json", json.dumps(report, indent=1))
    plot_block_scores(report["average"], out / "faig_blocks.png",
                      f"FAIG per block ({', '.join(tasks)})")
    for task in tasks if len(tasks) > 1 else ():
        click.echo(f"{task}:\n{kind_table(report['tasks'][task])}")
    click.echo(f"average:\n{kind_table(report['average'])}" if len(tasks) > 1
               else kind_table(report["average"]))
    top = max(report["average"]["blocks"], key=lambda b: b["score"], default=None)
    named = f"{top['index']} ({top['name']}, {top['part']})" if top else "-"
    click.echo(f"faig {', '.join(tasks)}: M={steps}, {images} image(s); top block {named}; "
               f"-> {out / 'faig.json'}")

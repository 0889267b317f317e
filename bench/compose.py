"""The composition study of issue 12: task adapters composed per image on mixed degradations.

A thin command line over studies.composition.run_study and studies.composition_report; see
`python bench/compose.py --help`.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `studies` lives beside the packages, found from the clone
    sys.path.insert(0, str(REPO))
from degrade.cliboundary import guarded  # noqa: E402  (KitErrors as one line)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@guarded
@click.option("--data", "data_dir", type=click.Path(path_type=Path),
              help="Data folder laid out like the shared benchmark folder (bsds500/train and "
                   "sun80: pre-training and adapter crops; cbsd68: the mixed test sets).")
@click.option("--estimator", "estimator_path", type=click.Path(path_type=Path),
              help="A trained degradation estimator (run folder of `trainer estimator train`).")
@click.option("--config", "config_name", type=click.Choice(["cpu", "gpu", "test"]),
              default="cpu", show_default=True,
              help="cpu: 38 CPU minutes of one core measured, nafnet-tiny (docs/composition.md). "
                   "gpu: one H200 run of at most 9 minutes, nafnet-small. test: the plumbing.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for results.json and the charts [default: runs/compose-CONFIG].")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Folder for shards, the base model and adapters [default: OUT/work].")
@click.option("--report", type=click.Path(path_type=Path), default=None,
              help="Markdown report [default: docs/composition.md for cpu, "
                   "docs/composition-CONFIG.md otherwise].")
@click.option("--base", "base_path", type=click.Path(exists=True, path_type=Path),
              help="Reuse this pre-trained base instead of pre-training one.")
@click.option("--reuse", is_flag=True,
              help="Take the base, adapters and fine-tuned models an earlier run of this "
                   "configuration left in WORK instead of training them again (e.g. to score "
                   "another --estimator); the report lists what was reused.")
@click.option("--device", default=None, help="torch device [default: the config's].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads (tiny models run best single-threaded).")
@click.option("--notes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Markdown file added to the report under 'Notes'.")
@click.option("--dry-run", is_flag=True,
              help="Check a configuration with every step count cut to 1-2 and 2 images a split.")
@click.option("--report-only", is_flag=True,
              help="Run nothing: write the report again from OUT/results.json.")
def main(data_dir, estimator_path, config_name, out, work, report, base_path, reuse, device,
         threads, notes, dry_run, report_only):
    """Train task adapters, compose them per image on mixed degradations, write a report.

    \b
    Arms per mixture (noise+jpeg, blur+noise, blur+jpeg, blur+noise+jpeg, rain+noise; light
    and heavy): base, each single task adapter, the per-image oracle-best single, the uniform
    average, a cascade, composed with oracle weights, composed with estimated weights (top-1,
    top-2, all), and two upper bounds trained on the mixture (CoLoRA, full fine-tuning).

    \b
    Examples:
      python bench/compose.py --data ../shared/data --estimator runs/estimator
      python bench/compose.py --data shared/data --estimator est/ --config gpu \\
          --out $OUT/compose --work /tmp/compose-gpu --report $OUT/compose/composition-gpu.md
    """
    import time

    import torch

    from studies.composition import CONFIGS, dry_config, run_study
    from studies.composition_report import write_report

    config = CONFIGS[config_name]
    out = out or Path(f"runs/compose-{config_name}")
    report = report or Path("docs/composition.md" if config_name == "cpu"
                            else f"docs/composition-{config_name}.md")
    results_path = out / "results.json"
    if report_only:
        if not results_path.is_file():
            raise click.UsageError(f"--report-only: {results_path} does not exist; run the "
                                   f"study first")
        results = json.loads(results_path.read_text())
    else:
        if data_dir is None or estimator_path is None:
            raise click.UsageError("--data and --estimator are required (a data folder and a "
                                   "trained estimator: trainer estimator train SHARDS --out DIR)")
        if not estimator_path.exists():
            raise click.UsageError(f"--estimator {estimator_path}: no such run folder or file")
        from trainer.numerics import flush_denormals

        flush_denormals()
        torch.set_num_threads(threads)
        device = device or config.device
        if dry_run:
            config = dry_config(config)
        from studies.datafolder import DataFolderError, check_data_folder

        try:
            check_data_folder(data_dir, config.val_images + config.test_images)
        except DataFolderError as error:
            raise click.UsageError(f"--data: {error}") from None
        load_at_start = os.getloadavg()[0]
        results = run_study(data_dir, config, work or out / "work", estimator_path, device,
                            base_path, reuse)
        results["command"] = " ".join(["python", "bench/compose.py",
                                       *map(shlex.quote, sys.argv[1:])])
        results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        from studies.environment import hardware_info

        results["hardware"] = {**hardware_info(device),
                               "load_average_1min_at_start": load_at_start}
        results["dry_run"] = dry_run
        out.mkdir(parents=True, exist_ok=True)
        from pipelines.files import write_text_atomically

        write_text_atomically(results_path, json.dumps(results, indent=1) + "\n")
    notes_text = notes.read_text() if notes else None
    written = write_report(results, out, report, notes_text)
    click.echo(f"results -> {results_path}; report -> {written}")


if __name__ == "__main__":
    main()

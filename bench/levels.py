"""The level-adapter study (issue 13): levels vs dedicated, blind, levels-full, estimated c and
the base over noise sigma 5..75 and JPEG quality 10..90 on CBSD68; writes results.json and
docs/levels.md. A thin command line over studies.levels and studies.levels_report."""
from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `studies` is an application beside the packages
    sys.path.insert(0, str(REPO))
from studies.levels import CONFIGS, RERUN_ARMS, TASKS  # noqa: E402  (light: no torch)

DEFAULT_ESTIMATOR = "runs/estimator"  # trainer estimator train's default folder
# Idle single-core costs on the 2-core dev host (seconds; from steps timed under a known load
# share): one pre-training step
# (batch 8, 48 px), one fine-tuning step per image of nafnet-tiny, one 128 px evaluation.
IDLE_COSTS = {"pretrain_step": 0.10, "finetune_image": 0.016, "eval_image": 0.03}
METHOD_COST = {"colora": 1.0, "levels": 1.7, "levels-full": 2.8}  # measured step ratios


def idle_estimate(config) -> float:
    """Idle single-core seconds of a configuration (CPU only; see IDLE_COSTS)."""
    steps = config.pretrain_steps * IDLE_COSTS["pretrain_step"]
    for task in TASKS:
        k = len(task.trained)
        images = config.level_steps * config.level_crops * k  # per arm; per dedicated adapter
        steps += k * images * IDLE_COSTS["finetune_image"]
        steps += images * IDLE_COSTS["finetune_image"] * sum(METHOD_COST.values())
        steps += (5 * len(task.sweep) + k) * config.eval_count * IDLE_COSTS["eval_image"] * (
            config.eval_crop / 128) ** 2
        steps += config.faig_steps * config.faig_pairs * 0.05 + config.faig_target_steps * 0.1
    return steps


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=click.Path(path_type=Path),
              help="Data folder with bsds500/train and sun80 (clean sources) and cbsd68.")
@click.option("--config", "config_name", type=click.Choice(list(CONFIGS)), default="cpu",
              show_default=True,
              help="cpu: nafnet-tiny, ~25 CPU minutes on one idle core. cuda: nafnet-small, "
                   "one H200 run under 9 minutes. test: seconds, for the test suite.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for results.json [default: runs/levels-CONFIG].")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Folder for shards and the pre-trained base, reused by a rerun with the "
                   "same pre-training sizes [default: OUT/work].")
@click.option("--report", type=click.Path(path_type=Path), default=None,
              help="Markdown report; its chart goes to a folder named after it "
                   "[default: docs/levels.md for cpu, docs/levels-CONFIG.md otherwise].")
@click.option("--estimator", type=click.Path(path_type=Path), default=Path(DEFAULT_ESTIMATOR),
              show_default=True, help="Degradation estimator (run folder or file) of the "
                                      "estimated-c arm.")
@click.option("--level-centre", type=click.Choice(["zero", "middle"]), default="zero",
              show_default=True,
              help="Where the level arms anchor c: zero, the paper's W0 + c W1; middle, c minus "
                   "the middle of the trained range's c (the same functions, trained otherwise).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads.")
@click.option("--plan", is_flag=True, help="Print the configuration and its idle-machine "
                                           "estimate; run nothing.")
@click.option("--report-only", is_flag=True, help="Write the report again from OUT/results.json.")
@click.option("--rerun", "rerun", default=None, metavar="ARMS",
              help="Train, save and score only these arms again (comma-separated: dedicated, "
                   "blind, levels, levels-full; levels brings levels-est with --estimator) "
                   "into OUT/results.json, keeping the others; then the report.")
@click.option("--rescore-estimate", is_flag=True,
              help="Score only the estimated-c arm again with --estimator, from the adapters "
                   "and base the run saved in WORK (nothing is trained), into OUT/results.json; "
                   "then the report.")
@click.option("--notes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Markdown reading written after the run, placed after the targets.")
def main(data_dir, config_name, out, work, report, estimator, level_centre, threads, plan,
         report_only, rerun, rescore_estimate, notes):
    """Run the level-adapter study and write results.json and the report.

    \b
    Examples:
      python bench/levels.py --data ../shared/data                      # docs/levels.md
      python bench/levels.py --data shared/data --config cuda --out $OUT/levels \\
          --work /tmp/levels-gpu --report $OUT/levels/levels-cuda.md
      python bench/levels.py --data ../shared/data --rescore-estimate \\
          --estimator runs/estimator-v2                                 # a newer estimator
    """
    if rerun is not None and rescore_estimate:
        raise click.UsageError("--rerun and --rescore-estimate: give one of them")
    arms = [a.strip() for a in (rerun or "").split(",") if a.strip()]
    if rerun is not None and (not arms or set(arms) - set(RERUN_ARMS)):
        raise click.UsageError(f"--rerun {rerun!r}: give arms among {', '.join(RERUN_ARMS)}")
    config = dataclasses.replace(CONFIGS[config_name], level_centre=level_centre)
    out = out or Path(f"runs/levels-{config_name}")
    report = report or Path("docs/levels.md" if config_name == "cpu"
                            else f"docs/levels-{config_name}.md")
    if plan:
        click.echo(json.dumps(vars(config) if hasattr(config, "__dict__") else {}, indent=1))
        click.echo(f"idle single-core estimate: {idle_estimate(config) / 60:.1f} min "
                   f"(CPU figures; a GPU run is bound by step overhead)")
        return
    from studies.levels_report import write_report

    command = "python bench/levels.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results_path = out / "results.json"
    if report_only:
        results = json.loads(results_path.read_text())
    else:
        if data_dir is None:
            raise click.UsageError("--data is required (the folder with bsds500/, sun80/, cbsd68/)")
        previous = None
        if arms or rescore_estimate:
            if not results_path.is_file():
                raise click.ClickException(f"{results_path}: no results to rescore or rerun "
                                           f"(run the study into --out first)")
            previous = json.loads(results_path.read_text())
        results = _run(data_dir, config, out, work or out / "work", estimator, threads, previous,
                       "estimate" if rescore_estimate else arms)
        from pipelines.files import write_text_atomically
        write_text_atomically(results_path, json.dumps(results, indent=1))
    write_report(results, report, results.get("command", command),
                 notes.read_text(encoding="utf-8") if notes else "")
    click.echo(f"report -> {report} (results: {results_path})")


def _run(data_dir, config, out, work, estimator, threads, previous=None,
         again=()) -> dict:
    import os
    import time

    import torch

    from studies.datafolder import DataFolderError
    from studies.levels import RerunError, rerun_arms, rescore_estimated, run_study
    from trainer.checkpoint import CheckpointError

    torch.set_num_threads(threads)
    began = time.strftime("%H:%M:%S")
    load = os.getloadavg()[0]

    def log(message):
        click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)

    try:
        if previous is not None:
            if again == "estimate":
                results, entry = rescore_estimated(previous, data_dir, config, work, estimator,
                                                   log), "rescore"
            else:
                results, entry = rerun_arms(previous, again, data_dir, config, work, estimator,
                                            log), "rerun"
            results[entry]["command"] = ("python bench/levels.py "
                                         + " ".join(shlex.quote(a) for a in sys.argv[1:]))
            results[entry]["load_average_1min"] = (load, os.getloadavg()[0])
            return results
        results = run_study(data_dir, config, work, estimator, log)
    except (DataFolderError, CheckpointError, RerunError) as error:
        raise click.ClickException(str(error)) from None
    results["hardware"]["load_average_1min_at_start"] = load
    results["started"] = began
    results["command"] = "python bench/levels.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return results


if __name__ == "__main__":
    main()

"""Reproduce the CoLoRA paper's two ablations at small scale on real photographs.

A thin command line over studies.reproduction.run_reproduction and
studies.report.write_report; see `python bench/reproduce.py --help`.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
# `studies` is an application beside the installed packages, not one of them: run from a clone,
# it is found through the repository root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from studies.scales import SCALES  # noqa: E402  (light: no torch)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=click.Path(path_type=Path),
              help="Data folder laid out like the shared benchmark folder: bsds500/train, sun80, "
                   "cbsd68, polyu_real_noise/{lq,gt}.")
@click.option("--scale", "scale_name", type=click.Choice(list(SCALES)), default="smoke",
              show_default=True,
              help="smoke: CPU, a few minutes, tiny model (proves the plumbing). medium: CPU, "
                   "about 30 minutes on one idle core, the scale docs/results.md comes from. gpu: one "
                   "H200 run of at most 9 minutes, NAFNet width 16. lite: one GPU, about 25 "
                   "minutes. test: a smaller smoke run for the test suite only.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder for results.json and charts [default: runs/reproduce-SCALE].")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Folder for shards and pre-trained weights [default: OUT/work]; put it "
                   "elsewhere to keep OUT small (a few report files, no weights).")
@click.option("--report", type=click.Path(path_type=Path), default=None,
              help="Markdown report to write; its charts go to a folder named after it "
                   "[default: docs/results.md for medium, docs/results-SCALE.md otherwise].")
@click.option("--device", default=None, help="torch device [default: the scale's, cpu or cuda].")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads [default: 1 on CPU, where tiny models run fastest "
                   "single-threaded and unaffected by other processes].")
@click.option("--notes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Markdown file added to the report under 'Notes' (a reading written "
                   "after the run).")
@click.option("--dry-run", is_flag=True,
              help="Check a scale before paying for it: its model, crops, batches, counts and "
                   "arms, with every step count cut to 1-2 and 2 test images per task.")
@click.option("--report-only", is_flag=True,
              help="Run nothing: write the report again from OUT/results.json (with --notes).")
def main(data_dir: Path | None, scale_name: str, out: Path | None, work: Path | None,
         report: Path | None, device: str | None, threads: int | None, notes: Path | None,
         dry_run: bool, report_only: bool):
    """Run both ablations of the CoLoRA paper and write results.json, charts and a report.

    \b
    1. Pre-training study: Random init vs Single vs Fixed vs PROD (K=7, N=6)
       pre-training, each fully fine-tuned on five tasks with 16/32/64/128 pairs.
    2. Fine-tuning study: from the PROD model, Full vs LoRA vs Decoder-only vs CoLoRA.
    Tasks: PolyU real noise, and heavy rain, motion blur, JPEG+noise and haze
    (outside the pre-training pool) synthesised from real photographs.

    \b
    Examples:
      python bench/reproduce.py --data ../shared/data --scale smoke
      python bench/reproduce.py --data ../shared/data --scale medium    # about 30 CPU minutes
      python bench/reproduce.py --data shared/data --scale gpu --out $OUT/gpu \\
          --work /tmp/reproduce-gpu --report $OUT/gpu/results-gpu.md
    """
    import time

    import torch

    from pipelines.build import BuildError
    from pipelines.sources import SourceError
    from trainer.checkpoint import CheckpointError
    from studies.datafolder import DataFolderError
    from trainer.loop import FitError
    from trainer.pretrain import PretrainError
    from studies.report import write_report
    from studies.scales import get_scale
    from studies.reproduction import run_reproduction

    from trainer.numerics import flush_denormals

    flush_denormals()
    began = time.perf_counter()
    out = out or Path("runs") / f"reproduce-{scale_name}"
    report = report or default_report(scale_name)
    if report_only:
        results = read_results(out)
        if notes:
            results["notes"] = notes.read_text(encoding="utf-8").strip()
        click.echo(f"report {write_report(results, out, report)} from {out / 'results.json'}")
        return
    if data_dir is None:
        raise click.UsageError("Missing option '--data' (needed unless --report-only).")
    scale = dry_run_scale(get_scale(scale_name)) if dry_run else get_scale(scale_name)
    device = device or scale.device
    try:
        torch.device(device)
    except RuntimeError as error:
        raise click.BadParameter(str(error).splitlines()[0], param_hint="--device") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise click.BadParameter(f"{device} asked for, but torch sees no CUDA device "
                                 "(use --scale smoke on a CPU)", param_hint="--device/--scale")
    torch.set_num_threads(threads or (1 if device == "cpu" else torch.get_num_threads()))
    command = equivalent_command(data_dir, scale_name, out, report, device, threads, work,
                                 dry_run)

    def log(line: str) -> None:
        click.echo(line, err=True)

    try:
        results = run_reproduction(data_dir, scale, out, device, command, log, work)
    except (DataFolderError, SourceError) as error:
        raise click.BadParameter(str(error), param_hint="--data") from None
    except (BuildError, PretrainError, FitError, CheckpointError) as error:
        raise click.ClickException(str(error)) from None
    if notes:
        results["notes"] = notes.read_text(encoding="utf-8").strip()
    written = write_report(results, out, report)
    click.echo(summary_line(results, out, written, time.perf_counter() - began))


def dry_run_scale(scale):
    """The scale with its shapes and arms, but almost no steps, pairs or test images."""
    from dataclasses import replace

    return replace(scale, name=f"{scale.name} dry run", pretrain_pairs=64, pretrain_steps=2, finetune_steps=1,
                   faig_target_steps=1, faig_steps=2, faig_pairs=2, polyu_test_count=2,
                   cbsd68_count=2)


def read_results(out: Path) -> dict:
    """OUT/results.json of a finished run; a usage error naming the file otherwise."""
    import json

    path = out / "results.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise click.BadParameter(f"{path}: {error}", param_hint="--out/--report-only") from None


def default_report(scale_name: str) -> Path:
    """docs/results.md is the medium run's; every other scale writes beside it."""
    name = "results.md" if scale_name == "medium" else f"results-{scale_name}.md"
    return REPO / "docs" / name


def equivalent_command(data_dir: Path, scale_name: str, out: Path, report: Path, device: str,
                       threads: int | None, work: Path | None = None,
                       dry_run: bool = False) -> str:
    """The command line that repeats this run (options resolved), for the report."""
    def shown(path: Path) -> str:  # repository paths relative to the repository, others as given
        try:
            return path.resolve().relative_to(REPO).as_posix()
        except ValueError:
            return str(path)

    args = ["--data", str(data_dir), "--scale", scale_name, *(["--dry-run"] if dry_run else []),
            "--out", shown(out),
            *(["--work", shown(work)] if work else []), "--report", shown(report),
            "--device", device]
    if threads:
        args += ["--threads", str(threads)]
    return "python bench/reproduce.py " + shlex.join(args)


def summary_line(results: dict, out: Path, report: Path, seconds: float) -> str:
    from studies.report import mean_over_tasks

    last = results["counts"][-1]
    pre = mean_over_tasks(results["pretraining"]["psnr"], last)
    ft = mean_over_tasks(results["finetuning"]["psnr"], last)
    runs = sum(len(by_count) for study in ("pretraining", "finetuning")
               for arm, by_task in results[study]["runs"].items()
               if not (study == "finetuning" and arm == "full")  # shared with the first study
               for by_count in by_task.values())
    return (f"reproduce {results['scale']['name']}: {runs} fine-tuning runs in "
            f"{seconds / 60:.1f} min; at {last} pairs PROD {pre['prod']:.2f} vs Random "
            f"{pre['random']:.2f} dB, CoLoRA {ft['colora']:.2f} vs Full {ft['full']:.2f} dB; "
            f"{out / 'results.json'}, {report}")


if __name__ == "__main__":
    main()
